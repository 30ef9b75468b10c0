"""Stage, flags and tier as a pure function of (facts, rules, clock).

`derive` replays a customer's facts in event-time order and lets the clock fire
between them: each clock-driven transition lands at the exact moment it became due.
A late event dated before such a moment therefore changes the derived history
itself, which `changes_between` turns into corrections.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import IntEnum
from typing import Any

from services.lifecycle.domain.checkpoint import Checkpoint, ClockMark, Resume, rules_key
from services.lifecycle.domain.facts import CustomerFacts
from services.lifecycle.domain.moments import iso, parse_utc
from services.lifecycle.domain.rules import LifecycleRules, TierRules
from services.lifecycle.domain.spend import QuarterlySpend, TrailingSpend
from services.lifecycle.domain.stages import (
    PATTERN_BY_CHURNED_FROM,
    Flag,
    LifecyclePattern,
    Reason,
    Stage,
    Tier,
)
from services.lifecycle.domain.transitions import (
    CLOCK,
    History,
    StoredHistory,
    Transition,
    TransitionKind,
    ids_of,
    same_history,
    transition_id,
)
from shared.business_calendar import BusinessCalendar


@dataclass(frozen=True, slots=True)
class LifecycleState:
    customer_id: str
    as_of: datetime
    stage: Stage
    stage_since: datetime | None
    flags: frozenset[Flag]
    tier: Tier
    lifecycle_pattern: LifecyclePattern | None
    reactivations: int
    first_seen_at: datetime | None
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    purchase_occasions: int
    total_spend: Decimal
    trailing_spend: Decimal
    churn_risk: float | None
    history: Sequence[Transition]
    """A tuple, or a `History` equal to one (a resumed replay's stored part stays unparsed)."""
    next_due_at: datetime | None
    """The earliest moment after `as_of` at which the state changes without a new event."""


# What the clock alone changes without recording a transition (the pattern turns long_lasting
# by tenure; trailing spend decays between tier changes). Every other field of a seen
# customer's state follows from its facts and its history, so a re-derivation that kept both
# changed only these (tests/unit/lifecycle/test_checkpoint.py holds it to that).
CLOCK_ONLY_FIELDS = ("lifecycle_pattern", "trailing_spend", "as_of", "next_due_at")


def derive(facts: CustomerFacts, rules: LifecycleRules, now: datetime) -> LifecycleState:
    """Replay the facts dated up to `now`; facts dated later only bound `next_due_at`."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    first_seen = facts.first_seen
    if first_seen is None or first_seen.at > now:
        return _unseen(facts, now, None if first_seen is None else first_seen.at)
    replay = _Replay(facts, rules, first_seen.at)
    replay.enter()
    replay.run_until(now)
    return replay.state(now)


def derive_resuming(
    facts: CustomerFacts, rules: LifecycleRules, now: datetime, earlier: Resume | None
) -> tuple[LifecycleState, Checkpoint | None]:
    """`derive`, plus a checkpoint for next time; resumes `earlier` when that gives the same.

    It does when the facts `earlier` had replayed are still the first ones in event-time
    order (new facts all came later) under the same rules and first-seen moment.
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    first_seen = facts.first_seen
    if first_seen is None or first_seen.at > now:
        return _unseen(facts, now, None if first_seen is None else first_seen.at), None
    replay = _Replay(facts, rules, first_seen.at, keep_checkpoint=True)
    if earlier is not None and replay.can_resume(earlier, now):
        replay.resume(earlier)
    else:
        replay.enter()
    replay.run_until(now)
    return replay.state(now), replay.checkpoint


def derive_by_clock(
    customer_id: str,
    first_seen_at: datetime | None,
    rules: LifecycleRules,
    now: datetime,
    earlier_history: Sequence[Transition],
    checkpoint: Checkpoint,
) -> tuple[LifecycleState, Checkpoint] | None:
    """`derive_resuming` for a customer whose checkpoint has replayed every one of its facts:
    only the clock moves such a customer on, so the facts themselves are not needed (the
    scheduler's case: nothing arrived since the last derive). It resumes from the clock mark
    when there is one (the clocks that fired up to it are not fired again), else from the
    last fact.

    The checkpoint to store comes back as it was, unless the history changed: then it is what
    a full derive would store, its clock mark moved to `now` (the row is rewritten anyway), so
    the next re-evaluation starts there.
    None when that does not hold (other rules, facts left unreplayed, a clock that went
    back before them): the caller then derives from the facts.
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if (
        first_seen_at is None
        or first_seen_at > now
        or checkpoint.points_total is None
        or checkpoint.points_consumed != checkpoint.points_total
        or checkpoint.rules_key != _compiled(rules).key
    ):
        return None
    start = _clock_start(checkpoint, len(earlier_history), now)
    if start is None:
        return None
    replay = _Replay(CustomerFacts(customer_id), rules, first_seen_at)  # no points left to replay
    replay.restore(earlier_history, *start)
    replay.checkpoint = checkpoint  # run_until marks a new one if a clock fires
    replay.run_until(now)
    state = replay.state(now)
    if _same_transitions(state.history, earlier_history):
        return state, checkpoint
    moved = replay.checkpoint
    if moved is None or moved is checkpoint:  # no clock fired: it went back before the mark
        moved = replace(checkpoint, clock=None)
    return state, moved


def _same_transitions(history: Sequence[Transition], earlier: Sequence[Transition]) -> bool:
    if isinstance(earlier, StoredHistory):
        return same_history(history, earlier)  # without reading a history kept as it was
    return ids_of(history) == ids_of(earlier)


def _clock_start(
    checkpoint: Checkpoint, history_len: int, now: datetime
) -> tuple[int, Mapping[str, Any]] | None:
    """The latest replay position dated by `now` that the stored history still holds."""
    mark = checkpoint.clock
    if mark is not None and mark.history_len <= history_len and _moment(mark.replay["t"]) <= now:
        return mark.history_len, {**checkpoint.replay, **mark.replay}
    if checkpoint.history_len <= history_len and _moment(checkpoint.replay["t"]) <= now:
        return checkpoint.history_len, checkpoint.replay
    return None


def next_due(
    facts: CustomerFacts, rules: LifecycleRules, state: LifecycleState, now: datetime
) -> datetime | None:
    """When to derive again if no event arrives: the earliest future change, or None.

    `state` is reused when it is `derive(facts, rules, now)`; otherwise this derives again.
    """
    if state.as_of == now and state.customer_id == facts.customer_id:
        return state.next_due_at
    return derive(facts, rules, now).next_due_at


class _Point(IntEnum):
    # Facts at one instant apply in this order, all before any clock due at that instant.
    PURCHASE = 0
    COMPLAINT = 1
    SCORE = 2


class _Clock(IntEnum):
    # Clocks due at one instant fire in this order.
    EARLY_ABORT = 0
    INACTIVITY = 1
    COMPLAINTS_EXPIRE = 2
    USUAL_GAP_EXCEEDED = 3
    NEW_CATEGORY_EXPIRES = 4
    QUARTER_STARTS = 5
    TIER_WINDOW = 6
    LONG_LASTING = 7


# The replay keeps each flag's reasons as bits (cheaper than sets in the hot loop); the bit
# order is the priority order: the lowest bit names the reason for setting the flag, and
# the cleared reason of the lowest old bit names the reason for clearing it.
_AT_RISK_REASONS = (Reason.INACTIVE_BEYOND_USUAL_GAP, Reason.COMPLAINTS, Reason.CHURN_RISK_SCORE)
_AT_RISK_CLEARED_BY = (
    Reason.ACTIVITY_RESUMED,
    Reason.COMPLAINTS_SUBSIDED,
    Reason.CHURN_RISK_LOWERED,
)
_UPGRADE_REASONS = (Reason.SPEND_GROWTH, Reason.NEW_CATEGORY)
_UPGRADE_CLEARED_BY = (Reason.UPGRADE_SIGNAL_EXPIRED, Reason.UPGRADE_SIGNAL_EXPIRED)
_GAP_BIT, _COMPLAINTS_BIT, _SCORE_BIT = 1, 2, 4
_GROWTH_BIT, _CATEGORY_BIT = 1, 2
_LOWEST_BIT = {bits: (bits & -bits).bit_length() - 1 for bits in range(1, 8)}
_TIER_RANK = {Tier.A: 3, Tier.B: 2, Tier.C: 1}

_ACQUISITION, _DEVELOPMENT = Stage.ACQUISITION, Stage.DEVELOPMENT
_MAINTENANCE, _CHURN = Stage.MAINTENANCE, Stage.CHURN
_STAGE_KIND, _FLAG_KIND, _TIER_KIND = TransitionKind.STAGE, TransitionKind.FLAG, TransitionKind.TIER
_PURCHASE_POINT, _COMPLAINT_POINT = _Point.PURCHASE, _Point.COMPLAINT

_PointRow = tuple[datetime, _Point, str, str, Decimal, str | None, float]


@dataclass(frozen=True, slots=True)
class _Compiled:
    """The rules as the replay reads them, computed once per rules object."""

    key: str
    calendar: BusinessCalendar  # calendar days and quarters (CLM_BUSINESS_TIMEZONE)
    tiers: TierRules
    a_min_spend: Decimal
    b_min_spend: Decimal
    maintenance: timedelta
    maintenance_min_occasions: int
    churn: timedelta
    early_abort: timedelta
    complaints: timedelta
    complaint_count: int
    churn_risk_threshold: float
    floor_days: float
    usual_gap_multiplier: float
    min_occasions_for_usual_gap: int
    new_category: timedelta
    long_lasting: timedelta
    tier_window: timedelta
    growth_factor: Decimal
    growth_quarters: int


_COMPILED: dict[int, tuple[LifecycleRules, _Compiled]] = {}


def _compiled(rules: LifecycleRules) -> _Compiled:
    # Keyed by identity: hashing a pydantic model walks every field, on every derive.
    entry = _COMPILED.get(id(rules))
    if entry is not None and entry[0] is rules:
        return entry[1]
    compiled = _Compiled(
        key=rules_key(rules),
        calendar=rules.calendar.business_calendar,
        tiers=rules.tiers,
        a_min_spend=rules.tiers.a_min_spend,
        b_min_spend=rules.tiers.b_min_spend,
        maintenance=timedelta(days=rules.stages.maintenance_window_days),
        maintenance_min_occasions=rules.stages.maintenance_min_occasions,
        churn=timedelta(days=rules.stages.churn_inactivity_days),
        early_abort=timedelta(days=rules.stages.early_abort_days),
        complaints=timedelta(days=rules.at_risk.complaint_window_days),
        complaint_count=rules.at_risk.complaint_count,
        churn_risk_threshold=rules.at_risk.churn_risk_threshold,
        floor_days=rules.at_risk.floor_days,
        usual_gap_multiplier=rules.at_risk.usual_gap_multiplier,
        min_occasions_for_usual_gap=rules.at_risk.min_occasions_for_usual_gap,
        new_category=timedelta(days=rules.upgrade.new_category_days),
        long_lasting=timedelta(days=rules.patterns.long_lasting_days),
        tier_window=timedelta(days=rules.tiers.window_days),
        growth_factor=Decimal(1) + Decimal(str(rules.upgrade.growth_ratio)),
        growth_quarters=rules.upgrade.growth_quarters,
    )
    if len(_COMPILED) >= 64:
        _COMPILED.clear()
    _COMPILED[id(rules)] = (rules, compiled)
    return compiled


class _Replay:
    __slots__ = (
        "_at_risk",
        "_c",
        "_categories_before_today",
        "_categories_today",
        "_churn_risk",
        "_churned_from",
        "_complaints",
        "_customer_id",
        "_facts",
        "_first_purchase_at",
        "_first_seen_at",
        "_gaps",
        "_grew",
        "_grew_key",
        "_history",
        "_ids",
        "_keep_checkpoint",
        "_last_purchase_at",
        "_long_lasting",
        "_new_category_at",
        "_next_point",
        "_occasion_days",
        "_points",
        "_prefix",
        "_prefix_len",
        "_quarter_due",
        "_quarterly",
        "_reactivations",
        "_recording",
        "_rules",
        "_stage",
        "_stage_since",
        "_t",
        "_tier",
        "_tier_change_at",
        "_tier_change_known",
        "_total_spend",
        "_trailing",
        "_upgrade",
        "_usual_gap",
        "checkpoint",
    )

    def __init__(
        self,
        facts: CustomerFacts,
        rules: LifecycleRules,
        first_seen_at: datetime,
        keep_checkpoint: bool = False,
    ):
        compiled = _compiled(rules)
        self._facts = facts
        self._rules = rules
        self._c = compiled
        self._quarter_due: tuple[tuple[int, bool, int], datetime | None] | None = None
        self._grew_key: tuple[int, int] | None = None
        self._grew = False
        self._customer_id = facts.customer_id
        self._points = _points_of(facts)
        self._next_point = 0
        self._first_seen_at = first_seen_at
        self._t = first_seen_at
        self._stage = Stage.ACQUISITION
        self._stage_since = first_seen_at
        self._history: list[Transition] = []  # after the stored prefix, if there is one
        self._prefix: StoredHistory | None = None
        self._prefix_len = 0
        self._ids: set[str] | None = set()  # of the history so far; None: the prefix's, unread
        self._reactivations = 0
        self._churned_from: Stage | None = None
        self._long_lasting = False
        self._first_purchase_at: datetime | None = None
        self._last_purchase_at: datetime | None = None
        self._occasion_days: list[str] = []  # ISO dates (they sort as the days do): no parsing
        self._gaps: list[int] = []
        self._usual_gap: timedelta | None = None
        self._total_spend = Decimal(0)
        self._trailing = TrailingSpend(compiled.tier_window)
        self._quarterly = QuarterlySpend(
            compiled.growth_factor, compiled.growth_quarters, compiled.calendar
        )
        self._categories_before_today: set[str] = set()
        self._categories_today: set[str] = set()
        self._new_category_at: datetime | None = None
        self._complaints: deque[datetime] = deque()
        self._churn_risk: float | None = None
        self._at_risk = 0
        self._upgrade = 0
        self._tier = Tier.C
        self._tier_change_at: datetime | None = None
        self._tier_change_known = False
        self._keep_checkpoint = keep_checkpoint
        self._recording = True
        self.checkpoint: Checkpoint | None = None

    def enter(self) -> None:
        """Records the entry into acquisition at the first fact: `first_purchase` when that
        fact is a purchase (development follows at once), `first_contact` for any other."""
        first = self._facts.first_seen
        assert first is not None
        reason, cause = Reason.FIRST_CONTACT, first.event_id
        for at, kind, event_id, *_ in self._points:  # in event-time order
            if at > first.at:
                break
            if kind is _PURCHASE_POINT:
                reason, cause = Reason.FIRST_PURCHASE, event_id
                break
        self._record(_STAGE_KIND, None, reason, cause)

    # --- checkpoints ----------------------------------------------------------------------

    def can_resume(self, earlier: Resume, now: datetime) -> bool:
        checkpoint, consumed = earlier.checkpoint, earlier.checkpoint.points_consumed
        if (
            checkpoint.rules_key != self._c.key
            or earlier.facts.first_seen != self._facts.first_seen
            or consumed > len(self._points)
            or (consumed and self._points[consumed - 1][0] > now)
            or checkpoint.history_len > len(earlier.history)
        ):
            return False
        if earlier.facts is self._facts:
            return True
        return _points_of(earlier.facts)[:consumed] == self._points[:consumed]

    def resume(self, earlier: Resume) -> None:
        checkpoint = earlier.checkpoint
        self.restore(earlier.history, checkpoint.history_len, checkpoint.replay)
        self._next_point = checkpoint.points_consumed
        if checkpoint.points_total != len(self._points) or checkpoint.clock is not None:
            # Facts dated later may have arrived meanwhile; the clock mark is taken afresh.
            checkpoint = replace(checkpoint, points_total=len(self._points), clock=None)
        self.checkpoint = checkpoint

    def restore(self, history: Sequence[Transition], kept: int, raw: Mapping[str, Any]) -> None:
        """Continue from the replay variables `raw`, which had recorded `history[:kept]`."""
        if isinstance(history, StoredHistory):  # its items stay unparsed unless read
            self._prefix, self._prefix_len = history, kept
            self._ids = None  # read from the prefix if a transition is recorded
        else:
            self._history = list(history[:kept])
            self._ids = {transition.id for transition in self._history}
        self._t = _moment(raw["t"])
        self._stage = _STAGE_OF[raw["stage"]]
        self._stage_since = _moment(raw["stage_since"])
        self._reactivations = raw["reactivations"]
        self._churned_from = _STAGE_OF[raw["churned_from"]] if raw["churned_from"] else None
        self._long_lasting = raw["long_lasting"]
        self._first_purchase_at = _optional_moment(raw["first_purchase_at"])
        self._last_purchase_at = _optional_moment(raw["last_purchase_at"])
        self._occasion_days = list(raw["occasion_days"])
        self._gaps = list(raw["gaps"])
        self._total_spend = Decimal(raw["total_spend"])
        self._trailing = TrailingSpend.restore(
            self._trailing.window,
            [(_stored_moment(at), Decimal(amount)) for at, amount in raw["trailing"]],
            Decimal(raw["trailing_total"]),
        )
        self._quarterly.restore({q: Decimal(amount) for q, amount in raw["quarterly"]})
        self._categories_before_today = set(raw["categories_before_today"])
        self._categories_today = set(raw["categories_today"])
        self._new_category_at = _optional_moment(raw["new_category_at"])
        self._complaints = deque(_moment(at) for at in raw["complaints"])
        self._churn_risk = raw["churn_risk"]
        self._at_risk = raw["at_risk"]
        self._upgrade = raw["upgrade"]
        self._tier = _TIER_OF[raw["tier"]]

    def _snapshot(self) -> Checkpoint:
        return Checkpoint(
            self._c.key,
            self._next_point,
            self._history_len(),
            self._variables(),
            len(self._points),
        )

    def _history_len(self) -> int:
        return self._prefix_len + len(self._history)

    def _variables(self) -> dict[str, Any]:
        """The variables that carry the replay forward (caches are left to be recomputed)."""
        return {
            "t": iso(self._t),
            "stage": self._stage.value,
            "stage_since": iso(self._stage_since),
            "reactivations": self._reactivations,
            "churned_from": self._churned_from.value if self._churned_from else None,
            "long_lasting": self._long_lasting,
            "first_purchase_at": _iso(self._first_purchase_at),
            "last_purchase_at": _iso(self._last_purchase_at),
            "occasion_days": list(self._occasion_days),
            "gaps": list(self._gaps),
            "total_spend": str(self._total_spend),
            "trailing": [[iso(at), str(amount)] for at, amount in self._trailing.purchases()],
            "trailing_total": str(self._trailing.total),
            "quarterly": [
                [q, str(amount)] for q, amount in sorted(self._quarterly.by_quarter().items())
            ],
            "categories_before_today": sorted(self._categories_before_today),
            "categories_today": sorted(self._categories_today),
            "new_category_at": _iso(self._new_category_at),
            "complaints": [iso(at) for at in self._complaints],
            "churn_risk": self._churn_risk,
            "at_risk": self._at_risk,
            "upgrade": self._upgrade,
            "tier": self._tier.value,
        }

    def _clock_variables(self) -> dict[str, Any]:
        """The variables the clock can change (time, expiries, stage, flags, tier): the clock
        mark stores only these, the rest stand as they did after the last fact."""
        return {
            "t": iso(self._t),
            "stage": self._stage.value,
            "stage_since": iso(self._stage_since),
            "churned_from": self._churned_from.value if self._churned_from else None,
            "long_lasting": self._long_lasting,
            "trailing": [[iso(at), str(amount)] for at, amount in self._trailing.purchases()],
            "trailing_total": str(self._trailing.total),
            "complaints": [iso(at) for at in self._complaints],
            "at_risk": self._at_risk,
            "upgrade": self._upgrade,
            "tier": self._tier.value,
        }

    # --- driving the replay -------------------------------------------------------------

    def run_until(self, now: datetime) -> None:
        points, count = self._points, len(self._points)
        keep = self._keep_checkpoint
        if keep and self.checkpoint is None and not self._point_due_by(now):
            self.checkpoint = self._snapshot()  # no fact to replay: the start is the checkpoint
        fired = False  # since the checkpoint
        while True:
            point_at = points[self._next_point][0] if self._next_point < count else None
            clock = self._next_clock()
            if clock is not None and clock[0] <= now and (point_at is None or clock[0] < point_at):
                self._fire(*clock)
                fired = True
            elif point_at is not None and point_at <= now:
                self._apply_point(points[self._next_point])
                self._next_point += 1
                if keep and not self._point_due_by(now):
                    self.checkpoint = self._snapshot()  # after the last fact, before its clocks
                    fired = False
            else:
                break
        self._advance(now)
        checkpoint = self.checkpoint
        if fired and checkpoint is not None and self._next_point == count:
            # Only the clock can move this replay on now: let it resume from here next time.
            mark = ClockMark(self._history_len(), self._clock_variables())
            self.checkpoint = Checkpoint(
                checkpoint.rules_key,
                checkpoint.points_consumed,
                checkpoint.history_len,
                checkpoint.replay,
                checkpoint.points_total,
                mark,
            )

    def next_change_after(self, now: datetime) -> datetime | None:
        """Keep the clock running past `now` (without new facts) until something shows.

        Only the moment is wanted: the transitions of that run are not recorded, so the
        replay's history stops at `now`."""
        before = self._observable()
        self._recording = False
        points, count = self._points, len(self._points)
        while True:
            point_at = points[self._next_point][0] if self._next_point < count else None
            clock = self._next_clock()
            if clock is not None and (point_at is None or clock[0] < point_at):
                self._fire(*clock)
                if self._observable() != before:
                    return clock[0]
            else:
                return point_at

    def state(self, now: datetime) -> LifecycleState:
        """The state at `now` (where `run_until(now)` left the replay); runs the clock past it."""
        flags: frozenset[Flag]
        if self._at_risk:
            flags = _BOTH_FLAGS if self._upgrade else _AT_RISK_ONLY
        else:
            flags = _UPGRADE_ONLY if self._upgrade else _NO_FLAGS
        customer_id, stage, stage_since, tier = (
            self._customer_id,
            self._stage,
            self._stage_since,
            self._tier,
        )
        pattern, reactivations = self._pattern(), self._reactivations
        first_purchase_at, last_purchase_at = self._first_purchase_at, self._last_purchase_at
        occasions, total, trailing = (
            len(self._occasion_days),
            self._total_spend,
            self._trailing.total,
        )
        churn_risk = self._churn_risk
        history: Sequence[Transition] = (
            tuple(self._history)
            if self._prefix is None
            else History(self._prefix, self._prefix_len, self._history)
        )
        return LifecycleState(
            customer_id=customer_id,
            as_of=now,
            stage=stage,
            stage_since=stage_since,
            flags=flags,
            tier=tier,
            lifecycle_pattern=pattern,
            reactivations=reactivations,
            first_seen_at=self._first_seen_at,
            first_purchase_at=first_purchase_at,
            last_purchase_at=last_purchase_at,
            purchase_occasions=occasions,
            total_spend=total,
            trailing_spend=trailing,
            churn_risk=churn_risk,
            history=history,
            next_due_at=self.next_change_after(now),  # last: it moves the replay on
        )

    def _point_due_by(self, now: datetime) -> bool:
        return self._next_point < len(self._points) and self._points[self._next_point][0] <= now

    def _observable(self) -> tuple[object, ...]:
        return (
            self._stage,
            self._stage_since,
            bool(self._at_risk),
            bool(self._upgrade),
            self._tier,
            self._pattern(),
        )

    def _pattern(self) -> LifecyclePattern | None:
        if self._stage is _CHURN and self._churned_from is not None:
            return PATTERN_BY_CHURNED_FROM[self._churned_from]
        return LifecyclePattern.LONG_LASTING if self._long_lasting else None

    def _advance(self, to: datetime) -> None:
        if to <= self._t:
            return
        self._t = to
        self._trailing.expire(to)
        complaints = self._complaints
        if complaints:
            window = self._c.complaints
            while complaints and to - complaints[0] >= window:
                complaints.popleft()

    # --- facts ----------------------------------------------------------------------------

    def _apply_point(self, row: _PointRow) -> None:
        at, kind, event_id, _, amount, category, churn_risk = row
        self._advance(at)
        if kind is _PURCHASE_POINT:
            self._purchase(at, event_id, amount, category)
        elif kind is _COMPLAINT_POINT:
            self._complaints.append(at)
        else:
            self._churn_risk = churn_risk
        self._refresh(event_id)

    def _purchase(self, at: datetime, event_id: str, amount: Decimal, category: str | None) -> None:
        self._total_spend += amount
        self._trailing.add(at, amount)
        self._quarterly.add(at, amount)
        self._tier_change_known = False
        day = self._c.calendar.day(at)
        last = self._last_purchase_at  # facts replay in time order: the latest occasion's
        last_day = None if last is None else self._c.calendar.day(last)
        if last_day != day:
            if last_day is not None:
                insort(self._gaps, (day - last_day).days)
                self._usual_gap = None
                self._categories_before_today |= self._categories_today
                self._categories_today = set()
            self._occasion_days.append(day.isoformat())
        if self._first_purchase_at is None:
            self._first_purchase_at = at
        self._last_purchase_at = at
        if category:
            if self._categories_before_today and category not in self._categories_before_today:
                self._new_category_at = at
            self._categories_today.add(category)
        stage = self._stage
        if stage is _ACQUISITION:
            self._change_stage(_DEVELOPMENT, Reason.FIRST_PURCHASE, event_id)
        elif stage is _CHURN:
            self._reactivations += 1
            self._change_stage(_DEVELOPMENT, Reason.REACTIVATED, event_id)
        if self._stage is _DEVELOPMENT and self._recent_occasions(day) >= (
            self._c.maintenance_min_occasions
        ):
            self._change_stage(_MAINTENANCE, Reason.REPEAT_PURCHASES, event_id)

    def _recent_occasions(self, day: date) -> int:
        since = (day - self._c.maintenance).isoformat()
        return len(self._occasion_days) - bisect_left(self._occasion_days, since)

    # --- the clock -------------------------------------------------------------------------

    def _next_clock(self) -> tuple[datetime, _Clock] | None:
        # Candidates in clock order, replaced only by a strictly earlier one: ties keep the
        # clock that fires first at one instant.
        c = self._c
        stage = self._stage
        active = stage is _DEVELOPMENT or stage is _MAINTENANCE
        last = self._last_purchase_at
        best: datetime | None = None
        clock = _Clock.EARLY_ABORT
        if stage is _ACQUISITION and self._first_purchase_at is None:
            best = self._first_seen_at + c.early_abort
        if active and last is not None:
            at = last + c.churn
            if best is None or at < best:
                best, clock = at, _Clock.INACTIVITY
        if self._at_risk & _COMPLAINTS_BIT:
            # The complaint that, when it leaves the window, takes the count below the bar.
            complaints = self._complaints
            at = complaints[len(complaints) - c.complaint_count] + c.complaints
            if best is None or at < best:
                best, clock = at, _Clock.COMPLAINTS_EXPIRE
        if active and last is not None and not self._at_risk & _GAP_BIT:
            at = last + self._at_risk_gap()
            if best is None or at < best:
                best, clock = at, _Clock.USUAL_GAP_EXCEEDED
        if self._upgrade & _CATEGORY_BIT and self._new_category_at is not None:
            at = self._new_category_at + c.new_category
            if best is None or at < best:
                best, clock = at, _Clock.NEW_CATEGORY_EXPIRES
        if active:
            quarter_due = self._next_growth_change()
            if quarter_due is not None and (best is None or quarter_due < best):
                best, clock = quarter_due, _Clock.QUARTER_STARTS
        if not self._tier_change_known:
            self._tier_change_at = self._trailing.next_tier_change(self._tier, c.tiers.tier_for)
            self._tier_change_known = True
        tier_due = self._tier_change_at
        if tier_due is not None and (best is None or tier_due < best):
            best, clock = tier_due, _Clock.TIER_WINDOW
        if stage is _MAINTENANCE and not self._long_lasting:
            at = self._stage_since + c.long_lasting
            if best is None or at < best:
                best, clock = at, _Clock.LONG_LASTING
        return None if best is None else (best, clock)

    def _next_growth_change(self) -> datetime | None:
        """The next quarter start at which the spend-growth signal flips."""
        growing = bool(self._upgrade & _GROWTH_BIT)
        calendar = self._c.calendar
        current = calendar.quarter(self._t)
        key = (current, growing, self._quarterly.version)
        if self._quarter_due is not None and self._quarter_due[0] == key:
            return self._quarter_due[1]
        change = None
        # Quarters after the current one have no spend yet, so growth can hold at most for
        # the next quarter start and is gone by the one after.
        for ahead in (1, 2):
            if self._quarterly.grew_before(current + ahead) != growing:
                change = calendar.quarter_start(current + ahead)
                break
        self._quarter_due = (key, change)
        return change

    def _fire(self, at: datetime, clock: _Clock) -> None:
        self._advance(at)
        if clock is _Clock.EARLY_ABORT:
            self._change_stage(_CHURN, Reason.NO_PURCHASE_AFTER_FIRST_CONTACT, CLOCK)
        elif clock is _Clock.INACTIVITY:
            self._change_stage(_CHURN, Reason.INACTIVITY, CLOCK)
        elif clock is _Clock.LONG_LASTING:
            self._long_lasting = True
        self._refresh(CLOCK)

    def _at_risk_gap(self) -> timedelta:
        if self._usual_gap is None:
            c = self._c
            days = c.floor_days
            if len(self._occasion_days) >= c.min_occasions_for_usual_gap and self._gaps:
                days = max(days, c.usual_gap_multiplier * _median(self._gaps))
            self._usual_gap = timedelta(days=days)
        return self._usual_gap

    def _grew_now(self) -> bool:
        key = (self._c.calendar.quarter(self._t), self._quarterly.version)
        if key != self._grew_key:
            self._grew_key = key
            self._grew = self._quarterly.grew_before(key[0])
        return self._grew

    # --- transitions -----------------------------------------------------------------------

    def _change_stage(self, to: Stage, reason: Reason, cause: str) -> None:
        came_from = self._stage
        self._stage = to
        self._stage_since = self._t
        self._long_lasting = False
        if to is _CHURN:
            self._churned_from = came_from
        self._record(_STAGE_KIND, came_from, reason, cause)

    def _refresh(self, cause: str) -> None:
        c = self._c
        stage = self._stage
        active = stage is _DEVELOPMENT or stage is _MAINTENANCE
        at_risk = upgrade = 0
        if active:
            t = self._t
            last = self._last_purchase_at
            if last is not None and t >= last + self._at_risk_gap():
                at_risk = _GAP_BIT
            if len(self._complaints) >= c.complaint_count:
                at_risk |= _COMPLAINTS_BIT
            if self._churn_risk is not None and self._churn_risk > c.churn_risk_threshold:
                at_risk |= _SCORE_BIT
            if self._grew_now():
                upgrade = _GROWTH_BIT
            new_category_at = self._new_category_at
            if new_category_at is not None and t < new_category_at + c.new_category:
                upgrade |= _CATEGORY_BIT
        old = self._at_risk
        if bool(old) != bool(at_risk):
            if at_risk:
                reason = _AT_RISK_REASONS[_LOWEST_BIT[at_risk]]
            elif not active:
                reason = Reason.CHURNED
            else:
                reason = _AT_RISK_CLEARED_BY[_LOWEST_BIT[old]]
            self._record(_FLAG_KIND, stage, reason, cause, flag=(Flag.AT_RISK, bool(at_risk)))
        self._at_risk = at_risk
        old = self._upgrade
        if bool(old) != bool(upgrade):
            if upgrade:
                reason = _UPGRADE_REASONS[_LOWEST_BIT[upgrade]]
            elif not active:
                reason = Reason.CHURNED
            else:
                reason = _UPGRADE_CLEARED_BY[_LOWEST_BIT[old]]
            flag = (Flag.UPGRADE_CANDIDATE, bool(upgrade))
            self._record(_FLAG_KIND, stage, reason, cause, flag=flag)
        self._upgrade = upgrade
        total = self._trailing.total
        tier = Tier.A if total >= c.a_min_spend else Tier.B if total >= c.b_min_spend else Tier.C
        if tier is not self._tier:
            rose = _TIER_RANK[tier] > _TIER_RANK[self._tier]
            reason = Reason.TRAILING_SPEND_INCREASED if rose else Reason.TRAILING_SPEND_DECREASED
            self._record(_TIER_KIND, stage, reason, cause, tiers=(self._tier, tier))
            self._tier = tier
            self._tier_change_known = False

    def _record(
        self,
        kind: TransitionKind,
        from_stage: Stage | None,
        reason: Reason,
        cause: str,
        flag: tuple[Flag, bool] | None = None,
        tiers: tuple[Tier, Tier] | None = None,
    ) -> None:
        if not self._recording:
            return
        fields = (
            self._customer_id,
            kind,
            from_stage,
            self._stage,
            flag[0] if flag else None,
            flag[1] if flag else None,
            tiers[0] if tiers else None,
            tiers[1] if tiers else None,
            self._t,
        )
        ids = self._ids
        if ids is None:
            assert self._prefix is not None
            ids = self._ids = set(self._prefix.ids[: self._prefix_len])
            ids.update(t.id for t in self._history)
        base_id = transition_id(*fields, reason, cause)
        unique_id, repeat = base_id, 1
        while unique_id in ids:
            repeat += 1
            unique_id = transition_id(*fields, reason, f"{cause}#{repeat}")
        ids.add(unique_id)
        self._history.append(Transition(unique_id, *fields, reason, cause))


_NO_FLAGS: frozenset[Flag] = frozenset()
_AT_RISK_ONLY = frozenset({Flag.AT_RISK})
_UPGRADE_ONLY = frozenset({Flag.UPGRADE_CANDIDATE})
_BOTH_FLAGS = frozenset({Flag.AT_RISK, Flag.UPGRADE_CANDIDATE})


def _points_of(facts: CustomerFacts) -> list[_PointRow]:
    # One point per order that counts, placed by its first version (facts.Order).
    rows: list[_PointRow] = [
        (order.placed_at, _PURCHASE_POINT, order.placed_by, "", order.amount, order.category, 0.0)
        for order in facts.orders()
    ]
    for ticket_id, ticket in facts.complaints.items():
        opened = ticket.opened
        rows.append((opened.at, _COMPLAINT_POINT, opened.event_id, ticket_id, _ZERO, None, 0.0))
    for event_id, reading in facts.scores.items():
        rows.append((reading.as_of, _Point.SCORE, event_id, "", _ZERO, None, reading.churn_risk))
    rows.sort(key=_point_order)
    return rows


_ZERO = Decimal(0)


def _point_order(row: _PointRow) -> tuple[datetime, _Point, str, str]:
    return row[0], row[1], row[2], row[3]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)


_moment = parse_utc
# The many moments of a checkpoint's trailing window, as `iso` wrote them (UTC, with offset).
_stored_moment = datetime.fromisoformat
_STAGE_OF = {stage.value: stage for stage in Stage}  # a dict lookup: calling the enum costs more
_TIER_OF = {tier.value: tier for tier in Tier}


def _optional_moment(raw: str | None) -> datetime | None:
    return None if raw is None else parse_utc(raw)


def _median(sorted_values: list[int]) -> float:
    middle = len(sorted_values) // 2
    if len(sorted_values) % 2:
        return float(sorted_values[middle])
    return (sorted_values[middle - 1] + sorted_values[middle]) / 2


def _unseen(facts: CustomerFacts, now: datetime, first_seen_at: datetime | None) -> LifecycleState:
    """No fact dated up to `now`; one dated later (a future-dated event) already makes the
    customer known in acquisition from its time, so stage_since is never null for it."""
    return LifecycleState(
        customer_id=facts.customer_id,
        as_of=now,
        stage=Stage.ACQUISITION,
        stage_since=first_seen_at,
        flags=frozenset(),
        tier=Tier.C,
        lifecycle_pattern=None,
        reactivations=0,
        first_seen_at=first_seen_at,
        first_purchase_at=None,
        last_purchase_at=None,
        purchase_occasions=0,
        total_spend=Decimal(0),
        trailing_spend=Decimal(0),
        churn_risk=None,
        history=(),
        next_due_at=first_seen_at,
    )
