"""Stage, flags and tier as a pure function of (facts, rules, clock).

`derive` replays a customer's facts in event-time order and lets the clock fire
between them: each clock-driven transition lands at the exact moment it became due.
A late event dated before such a moment therefore changes the derived history
itself, which `changes_between` turns into corrections.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import IntEnum
from functools import lru_cache
from typing import Any

from services.lifecycle.domain.checkpoint import Checkpoint, Resume, rules_key
from services.lifecycle.domain.facts import CustomerFacts
from services.lifecycle.domain.rules import LifecycleRules
from services.lifecycle.domain.spend import QuarterlySpend, TrailingSpend, quarter_of, quarter_start
from services.lifecycle.domain.stages import (
    ACTIVE_STAGES,
    PATTERN_BY_CHURNED_FROM,
    Flag,
    LifecyclePattern,
    Reason,
    Stage,
    Tier,
)
from services.lifecycle.domain.transitions import (
    CLOCK,
    Transition,
    TransitionKind,
    transition_id,
)


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
    history: tuple[Transition, ...]
    next_due_at: datetime | None
    """The earliest moment after `as_of` at which the state changes without a new event."""


def derive(facts: CustomerFacts, rules: LifecycleRules, now: datetime) -> LifecycleState:
    """Replay the facts dated up to `now`; facts dated later only bound `next_due_at`."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    first_seen = facts.first_seen
    if first_seen is None or first_seen.at > now:
        return _unseen(facts, now, None if first_seen is None else first_seen.at)
    replay = _Replay(facts, rules, first_seen.at)
    replay.run_until(now)
    state = replay.state(now)
    return dataclasses.replace(state, next_due_at=replay.next_change_after(now))


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
    replay.run_until(now)
    state = replay.state(now)
    checkpoint = replay.checkpoint
    return dataclasses.replace(state, next_due_at=replay.next_change_after(now)), checkpoint


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


_AT_RISK_CLEARED_BY = {
    Reason.INACTIVE_BEYOND_USUAL_GAP: Reason.ACTIVITY_RESUMED,
    Reason.COMPLAINTS: Reason.COMPLAINTS_SUBSIDED,
    Reason.CHURN_RISK_SCORE: Reason.CHURN_RISK_LOWERED,
}
_UPGRADE_CLEARED_BY = {
    Reason.SPEND_GROWTH: Reason.UPGRADE_SIGNAL_EXPIRED,
    Reason.NEW_CATEGORY: Reason.UPGRADE_SIGNAL_EXPIRED,
}

_PointRow = tuple[datetime, _Point, str, str, Decimal, str | None, float]


class _Replay:
    def __init__(
        self,
        facts: CustomerFacts,
        rules: LifecycleRules,
        first_seen_at: datetime,
        keep_checkpoint: bool = False,
    ):
        self._facts = facts
        self._rules = rules
        self._windows = _Windows.of(rules)
        self._quarter_due: tuple[tuple[int, bool, int], datetime | None] | None = None
        self._customer_id = facts.customer_id
        self._points = _points_of(facts)
        self._next_point = 0
        self._first_seen_at = first_seen_at
        self._t = first_seen_at
        self._stage = Stage.ACQUISITION
        self._stage_since = first_seen_at
        self._history: list[Transition] = []
        self._ids: set[str] = set()
        self._reactivations = 0
        self._churned_from: Stage | None = None
        self._long_lasting = False
        self._first_purchase_at: datetime | None = None
        self._last_purchase_at: datetime | None = None
        self._occasion_days: list[date] = []
        self._gaps: list[int] = []
        self._usual_gap: timedelta | None = None
        self._total_spend = Decimal(0)
        self._trailing = TrailingSpend(timedelta(days=rules.tiers.window_days))
        self._quarterly = QuarterlySpend(rules.upgrade.growth_ratio, rules.upgrade.growth_quarters)
        self._categories_before_today: set[str] = set()
        self._categories_today: set[str] = set()
        self._new_category_at: datetime | None = None
        self._complaints: deque[datetime] = deque()
        self._churn_risk: float | None = None
        self._at_risk: frozenset[Reason] = frozenset()
        self._upgrade: frozenset[Reason] = frozenset()
        self._tier = Tier.C
        self._tier_change_at: datetime | None = None
        self._tier_change_known = False
        self._keep_checkpoint = keep_checkpoint
        self.checkpoint: Checkpoint | None = None

    # --- checkpoints ----------------------------------------------------------------------

    def can_resume(self, earlier: Resume, now: datetime) -> bool:
        checkpoint, consumed = earlier.checkpoint, earlier.checkpoint.points_consumed
        if (
            checkpoint.rules_key != rules_key(self._rules)
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
        raw = checkpoint.replay
        self._next_point = checkpoint.points_consumed
        self._history = list(earlier.history[: checkpoint.history_len])
        self._ids = {transition.id for transition in self._history}
        self._t = _moment(raw["t"])
        self._stage = Stage(raw["stage"])
        self._stage_since = _moment(raw["stage_since"])
        self._reactivations = raw["reactivations"]
        self._churned_from = Stage(raw["churned_from"]) if raw["churned_from"] else None
        self._long_lasting = raw["long_lasting"]
        self._first_purchase_at = _optional_moment(raw["first_purchase_at"])
        self._last_purchase_at = _optional_moment(raw["last_purchase_at"])
        self._occasion_days = [date.fromisoformat(day) for day in raw["occasion_days"]]
        self._gaps = list(raw["gaps"])
        self._total_spend = Decimal(raw["total_spend"])
        self._trailing = TrailingSpend.restore(
            self._trailing.window,
            [(_moment(at), Decimal(amount)) for at, amount in raw["trailing"]],
            Decimal(raw["trailing_total"]),
        )
        self._quarterly.restore({q: Decimal(amount) for q, amount in raw["quarterly"]})
        self._categories_before_today = set(raw["categories_before_today"])
        self._categories_today = set(raw["categories_today"])
        self._new_category_at = _optional_moment(raw["new_category_at"])
        self._complaints = deque(_moment(at) for at in raw["complaints"])
        self._churn_risk = raw["churn_risk"]
        self._at_risk = frozenset(Reason(reason) for reason in raw["at_risk"])
        self._upgrade = frozenset(Reason(reason) for reason in raw["upgrade"])
        self._tier = Tier(raw["tier"])
        self.checkpoint = checkpoint

    def _snapshot(self) -> Checkpoint:
        """The variables that carry the replay forward (caches are left to be recomputed)."""
        replay: dict[str, Any] = {
            "t": self._t.isoformat(),
            "stage": self._stage.value,
            "stage_since": self._stage_since.isoformat(),
            "reactivations": self._reactivations,
            "churned_from": self._churned_from.value if self._churned_from else None,
            "long_lasting": self._long_lasting,
            "first_purchase_at": _iso(self._first_purchase_at),
            "last_purchase_at": _iso(self._last_purchase_at),
            "occasion_days": [day.isoformat() for day in self._occasion_days],
            "gaps": list(self._gaps),
            "total_spend": str(self._total_spend),
            "trailing": [
                [at.isoformat(), str(amount)] for at, amount in self._trailing.purchases()
            ],
            "trailing_total": str(self._trailing.total),
            "quarterly": [
                [q, str(amount)] for q, amount in sorted(self._quarterly.by_quarter().items())
            ],
            "categories_before_today": sorted(self._categories_before_today),
            "categories_today": sorted(self._categories_today),
            "new_category_at": _iso(self._new_category_at),
            "complaints": [at.isoformat() for at in self._complaints],
            "churn_risk": self._churn_risk,
            "at_risk": sorted(reason.value for reason in self._at_risk),
            "upgrade": sorted(reason.value for reason in self._upgrade),
            "tier": self._tier.value,
        }
        return Checkpoint(rules_key(self._rules), self._next_point, len(self._history), replay)

    # --- driving the replay -------------------------------------------------------------

    def run_until(self, now: datetime) -> None:
        if self._keep_checkpoint and not self._point_due_by(now) and self.checkpoint is None:
            self.checkpoint = self._snapshot()  # no fact to replay: the start is the checkpoint
        while True:
            point_at = self._points[self._next_point][0] if self._has_point() else None
            clock = self._next_clock()
            if clock is not None and clock[0] <= now and (point_at is None or clock[0] < point_at):
                self._fire(*clock)
            elif point_at is not None and point_at <= now:
                self._apply_point(self._points[self._next_point])
                self._next_point += 1
                if self._keep_checkpoint and not self._point_due_by(now):
                    self.checkpoint = self._snapshot()  # after the last fact, before its clocks
            else:
                break
        self._advance(now)

    def next_change_after(self, now: datetime) -> datetime | None:
        """Keep the clock running past `now` (without new facts) until something shows."""
        before = self._observable()
        while True:
            point_at = self._points[self._next_point][0] if self._has_point() else None
            clock = self._next_clock()
            if clock is not None and (point_at is None or clock[0] < point_at):
                self._fire(*clock)
                if self._observable() != before:
                    return clock[0]
            else:
                return point_at

    def state(self, now: datetime) -> LifecycleState:
        flags = set()
        if self._at_risk:
            flags.add(Flag.AT_RISK)
        if self._upgrade:
            flags.add(Flag.UPGRADE_CANDIDATE)
        return LifecycleState(
            customer_id=self._customer_id,
            as_of=now,
            stage=self._stage,
            stage_since=self._stage_since,
            flags=frozenset(flags),
            tier=self._tier,
            lifecycle_pattern=self._pattern(),
            reactivations=self._reactivations,
            first_seen_at=self._first_seen_at,
            first_purchase_at=self._first_purchase_at,
            last_purchase_at=self._last_purchase_at,
            purchase_occasions=len(self._occasion_days),
            total_spend=self._total_spend,
            trailing_spend=self._trailing.total,
            churn_risk=self._churn_risk,
            history=tuple(self._history),
            next_due_at=None,
        )

    def _has_point(self) -> bool:
        return self._next_point < len(self._points)

    def _point_due_by(self, now: datetime) -> bool:
        return self._has_point() and self._points[self._next_point][0] <= now

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
        if self._stage is Stage.CHURN and self._churned_from is not None:
            return PATTERN_BY_CHURNED_FROM[self._churned_from]
        return LifecyclePattern.LONG_LASTING if self._long_lasting else None

    def _advance(self, to: datetime) -> None:
        if to <= self._t:
            return
        self._t = to
        self._trailing.expire(to)
        window = self._windows.complaints
        while self._complaints and to - self._complaints[0] >= window:
            self._complaints.popleft()

    # --- facts ----------------------------------------------------------------------------

    def _apply_point(self, row: _PointRow) -> None:
        at, kind, event_id, _, amount, category, churn_risk = row
        self._advance(at)
        if kind is _Point.PURCHASE:
            self._purchase(at, event_id, amount, category)
        elif kind is _Point.COMPLAINT:
            self._complaints.append(at)
        else:
            self._churn_risk = churn_risk
        self._refresh(event_id)

    def _purchase(self, at: datetime, event_id: str, amount: Decimal, category: str | None) -> None:
        self._total_spend += amount
        self._trailing.add(at, amount)
        self._quarterly.add(at, amount)
        self._tier_change_known = False
        day = at.date()
        if not self._occasion_days or self._occasion_days[-1] != day:
            if self._occasion_days:
                insort(self._gaps, (day - self._occasion_days[-1]).days)
                self._usual_gap = None
                self._categories_before_today |= self._categories_today
                self._categories_today = set()
            self._occasion_days.append(day)
        if self._first_purchase_at is None:
            self._first_purchase_at = at
        self._last_purchase_at = at
        if category:
            if self._categories_before_today and category not in self._categories_before_today:
                self._new_category_at = at
            self._categories_today.add(category)
        if self._stage is Stage.ACQUISITION:
            self._change_stage(Stage.DEVELOPMENT, Reason.FIRST_PURCHASE, event_id)
        elif self._stage is Stage.CHURN:
            self._reactivations += 1
            self._change_stage(Stage.DEVELOPMENT, Reason.REACTIVATED, event_id)
        if self._stage is Stage.DEVELOPMENT and self._recent_occasions(day) >= (
            self._rules.stages.maintenance_min_occasions
        ):
            self._change_stage(Stage.MAINTENANCE, Reason.REPEAT_PURCHASES, event_id)

    def _recent_occasions(self, day: date) -> int:
        since = day - self._windows.maintenance
        return len(self._occasion_days) - bisect_left(self._occasion_days, since)

    # --- the clock -------------------------------------------------------------------------

    def _next_clock(self) -> tuple[datetime, _Clock] | None:
        rules, windows = self._rules, self._windows
        due: list[tuple[datetime, _Clock]] = []
        active = self._stage in ACTIVE_STAGES
        if self._stage is Stage.ACQUISITION and self._first_purchase_at is None:
            due.append((self._first_seen_at + windows.early_abort, _Clock.EARLY_ABORT))
        if active and self._last_purchase_at is not None:
            due.append((self._last_purchase_at + windows.churn, _Clock.INACTIVITY))
            if Reason.INACTIVE_BEYOND_USUAL_GAP not in self._at_risk:
                usual_gap = self._last_purchase_at + self._at_risk_gap()
                due.append((usual_gap, _Clock.USUAL_GAP_EXCEEDED))
        if Reason.COMPLAINTS in self._at_risk:
            # The complaint that, when it leaves the window, takes the count below the bar.
            oldest_needed = self._complaints[len(self._complaints) - rules.at_risk.complaint_count]
            due.append((oldest_needed + windows.complaints, _Clock.COMPLAINTS_EXPIRE))
        if Reason.NEW_CATEGORY in self._upgrade and self._new_category_at is not None:
            due.append((self._new_category_at + windows.new_category, _Clock.NEW_CATEGORY_EXPIRES))
        if active:
            quarter_due = self._next_growth_change()
            if quarter_due is not None:
                due.append((quarter_due, _Clock.QUARTER_STARTS))
        if not self._tier_change_known:
            self._tier_change_at = self._trailing.next_tier_change(self._tier, rules.tiers.tier_for)
            self._tier_change_known = True
        if self._tier_change_at is not None:
            due.append((self._tier_change_at, _Clock.TIER_WINDOW))
        if self._stage is Stage.MAINTENANCE and not self._long_lasting:
            due.append((self._stage_since + windows.long_lasting, _Clock.LONG_LASTING))
        return min(due) if due else None

    def _next_growth_change(self) -> datetime | None:
        """The next quarter start at which the spend-growth signal flips."""
        growing = Reason.SPEND_GROWTH in self._upgrade
        current = quarter_of(self._t)
        key = (current, growing, self._quarterly.version)
        if self._quarter_due is not None and self._quarter_due[0] == key:
            return self._quarter_due[1]
        change = None
        # Quarters after the current one have no spend yet, so growth can hold at most for
        # the next quarter start and is gone by the one after.
        for ahead in (1, 2):
            if self._quarterly.grew_before(current + ahead) != growing:
                change = quarter_start(current + ahead)
                break
        self._quarter_due = (key, change)
        return change

    def _fire(self, at: datetime, clock: _Clock) -> None:
        self._advance(at)
        if clock is _Clock.EARLY_ABORT:
            self._change_stage(Stage.CHURN, Reason.NO_PURCHASE_AFTER_FIRST_CONTACT, CLOCK)
        elif clock is _Clock.INACTIVITY:
            self._change_stage(Stage.CHURN, Reason.INACTIVITY, CLOCK)
        elif clock is _Clock.LONG_LASTING:
            self._long_lasting = True
        self._refresh(CLOCK)

    def _at_risk_gap(self) -> timedelta:
        if self._usual_gap is None:
            rules = self._rules.at_risk
            days = rules.floor_days
            if len(self._occasion_days) >= rules.min_occasions_for_usual_gap and self._gaps:
                days = max(days, rules.usual_gap_multiplier * _median(self._gaps))
            self._usual_gap = timedelta(days=days)
        return self._usual_gap

    # --- transitions -----------------------------------------------------------------------

    def _change_stage(self, to: Stage, reason: Reason, cause: str) -> None:
        came_from = self._stage
        self._stage = to
        self._stage_since = self._t
        self._long_lasting = False
        if to is Stage.CHURN:
            self._churned_from = came_from
        self._record(TransitionKind.STAGE, came_from, reason, cause)

    def _refresh(self, cause: str) -> None:
        rules = self._rules.at_risk
        active = self._stage in ACTIVE_STAGES
        at_risk: set[Reason] = set()
        upgrade: set[Reason] = set()
        if active:
            last = self._last_purchase_at
            if last is not None and self._t >= last + self._at_risk_gap():
                at_risk.add(Reason.INACTIVE_BEYOND_USUAL_GAP)
            if len(self._complaints) >= rules.complaint_count:
                at_risk.add(Reason.COMPLAINTS)
            if self._churn_risk is not None and self._churn_risk > rules.churn_risk_threshold:
                at_risk.add(Reason.CHURN_RISK_SCORE)
            if self._quarterly.grew_before(quarter_of(self._t)):
                upgrade.add(Reason.SPEND_GROWTH)
            new_category_until = self._new_category_at and (
                self._new_category_at + self._windows.new_category
            )
            if new_category_until and self._t < new_category_until:
                upgrade.add(Reason.NEW_CATEGORY)
        self._at_risk = self._update_flag(
            Flag.AT_RISK, self._at_risk, frozenset(at_risk), _AT_RISK_CLEARED_BY, cause
        )
        self._upgrade = self._update_flag(
            Flag.UPGRADE_CANDIDATE, self._upgrade, frozenset(upgrade), _UPGRADE_CLEARED_BY, cause
        )
        tier = self._rules.tiers.tier_for(self._trailing.total)
        if tier is not self._tier:
            rose = tier.rank > self._tier.rank
            reason = Reason.TRAILING_SPEND_INCREASED if rose else Reason.TRAILING_SPEND_DECREASED
            self._record(TransitionKind.TIER, self._stage, reason, cause, tiers=(self._tier, tier))
            self._tier = tier
            self._tier_change_known = False

    def _update_flag(
        self,
        flag: Flag,
        old: frozenset[Reason],
        new: frozenset[Reason],
        cleared_by: Mapping[Reason, Reason],
        cause: str,
    ) -> frozenset[Reason]:
        if bool(old) != bool(new):
            if new:
                reason = _first_of(cleared_by, new)
            elif self._stage not in ACTIVE_STAGES:
                reason = Reason.CHURNED
            else:
                reason = cleared_by[_first_of(cleared_by, old)]
            self._record(TransitionKind.FLAG, self._stage, reason, cause, flag=(flag, bool(new)))
        return new

    def _record(
        self,
        kind: TransitionKind,
        from_stage: Stage,
        reason: Reason,
        cause: str,
        flag: tuple[Flag, bool] | None = None,
        tiers: tuple[Tier, Tier] | None = None,
    ) -> None:
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
        base_id = transition_id(*fields, reason, cause)
        unique_id, repeat = base_id, 1
        while unique_id in self._ids:
            repeat += 1
            unique_id = transition_id(*fields, reason, f"{cause}#{repeat}")
        self._ids.add(unique_id)
        self._history.append(Transition(unique_id, *fields, reason, cause))


@dataclass(frozen=True, slots=True)
class _Windows:
    maintenance: timedelta
    churn: timedelta
    early_abort: timedelta
    complaints: timedelta
    new_category: timedelta
    long_lasting: timedelta

    @classmethod
    @lru_cache(maxsize=16)
    def of(cls, rules: LifecycleRules) -> _Windows:
        return cls(
            maintenance=timedelta(days=rules.stages.maintenance_window_days),
            churn=timedelta(days=rules.stages.churn_inactivity_days),
            early_abort=timedelta(days=rules.stages.early_abort_days),
            complaints=timedelta(days=rules.at_risk.complaint_window_days),
            new_category=timedelta(days=rules.upgrade.new_category_days),
            long_lasting=timedelta(days=rules.patterns.long_lasting_days),
        )


def _points_of(facts: CustomerFacts) -> list[_PointRow]:
    rows: list[_PointRow] = []
    for event_id, purchase in facts.purchases.items():
        rows.append(
            (
                purchase.occurred_at,
                _Point.PURCHASE,
                event_id,
                "",
                purchase.amount,
                purchase.category,
                0.0,
            )
        )
    for ticket_id, ticket in facts.complaints.items():
        opened = ticket.opened
        rows.append(
            (opened.at, _Point.COMPLAINT, opened.event_id, ticket_id, Decimal(0), None, 0.0)
        )
    for event_id, reading in facts.scores.items():
        rows.append(
            (reading.as_of, _Point.SCORE, event_id, "", Decimal(0), None, reading.churn_risk)
        )
    rows.sort(key=lambda row: row[:4])
    return rows


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _moment(raw: str) -> datetime:
    return datetime.fromisoformat(raw)


def _optional_moment(raw: str | None) -> datetime | None:
    return None if raw is None else datetime.fromisoformat(raw)


def _first_of(priority: Mapping[Reason, Reason], reasons: frozenset[Reason]) -> Reason:
    return next(reason for reason in priority if reason in reasons)


def _median(sorted_values: list[int]) -> float:
    middle = len(sorted_values) // 2
    if len(sorted_values) % 2:
        return float(sorted_values[middle])
    return (sorted_values[middle - 1] + sorted_values[middle]) / 2


def _unseen(facts: CustomerFacts, now: datetime, first_seen_at: datetime | None) -> LifecycleState:
    return LifecycleState(
        customer_id=facts.customer_id,
        as_of=now,
        stage=Stage.ACQUISITION,
        stage_since=None,
        flags=frozenset(),
        tier=Tier.C,
        lifecycle_pattern=None,
        reactivations=0,
        first_seen_at=None,
        first_purchase_at=None,
        last_purchase_at=None,
        purchase_occasions=0,
        total_spend=Decimal(0),
        trailing_spend=Decimal(0),
        churn_risk=None,
        history=(),
        next_due_at=first_seen_at,
    )
