"""The engine: orders a customer's facts, runs the clock between them, and resumes.

It folds each fact into a `CustomerState` and lets the clock fire between facts, each
clock-driven transition landing at the exact moment it became due; what changes and why
is decided by the rules in `business_rules.py`. Facts later than everything a stored
checkpoint had folded in continue from that checkpoint; a late fact replays from the start.
`derive` (no checkpoint) is the plain full replay every resumed derivation must equal.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import IntEnum
from typing import NamedTuple

from services.lifecycle.domain import business_rules as rule
from services.lifecycle.domain.business_rules import StageChange, Thresholds
from services.lifecycle.domain.checkpoint import Checkpoint, ClockMark, Resume
from services.lifecycle.domain.customer_state import CustomerState
from services.lifecycle.domain.facts import CustomerFacts, order_keys
from services.lifecycle.domain.rules import LifecycleRules
from services.lifecycle.domain.spend import QuarterlySpend, TrailingSpend
from services.lifecycle.domain.stages import Flag, LifecyclePattern, Reason, Stage, Tier
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
    """The plain full replay: every fact dated up to `now`; later ones only bound `next_due_at`."""
    _aware(now)
    first_seen = facts.first_seen
    if first_seen is None or first_seen.at > now:
        return _unseen(facts, now, None if first_seen is None else first_seen.at)
    replay = Replay(facts, rules, first_seen.at)
    replay.enter()
    replay.run_until(now)
    return replay.state(now)


def derive_resuming(
    facts: CustomerFacts, rules: LifecycleRules, now: datetime, earlier: Resume | None
) -> tuple[LifecycleState, Checkpoint | None]:
    """`derive`, plus a checkpoint for next time; resumes `earlier` when that gives the same.

    It does when the facts `earlier` had folded in are still the first ones in event-time
    order (new facts all came later) under the same rules and first-seen moment.
    """
    _aware(now)
    first_seen = facts.first_seen
    if first_seen is None or first_seen.at > now:
        return _unseen(facts, now, None if first_seen is None else first_seen.at), None
    replay = Replay(facts, rules, first_seen.at, keep_checkpoint=True)
    if earlier is not None and replay.can_resume(earlier, now):
        replay.resume(earlier)
    else:
        replay.enter()
    replay.run_until(now)
    state, checkpoint = replay.state(now), replay.checkpoint
    if checkpoint is not None:
        checkpoint = replace(
            checkpoint, order_keys=order_keys(facts), ticket_ids=frozenset(facts.complaints)
        )
    return state, checkpoint


@dataclass(frozen=True, slots=True)
class Folded:
    """Later facts folded into a stored checkpoint: what to add to the stored customer."""

    state: LifecycleState
    """The state now; its `history` holds only the `appended` transitions."""
    appended: tuple[Transition, ...]
    """The transitions to append to the stored history (nothing stored is retracted)."""
    checkpoint: Checkpoint


def fold_later_facts(
    later: CustomerFacts, rules: LifecycleRules, now: datetime, checkpoint: Checkpoint
) -> Folded | None:
    """Folds facts that all came after everything `checkpoint` holds into its state: the
    in-order case, whose work does not grow with the customer's facts or history.

    `later` holds only the new facts. None when they are not all later (or cannot be told
    apart from earlier ones without the stored facts): the caller then replays with
    `derive_resuming`. The result equals what that replay would derive (the property test
    `test_incremental_engine.py` holds it to that); the stored history is assumed to be the
    one the derivation that stored `checkpoint` left (`Checkpoint.stored_history_len`).
    """
    _aware(now)
    start = checkpoint.resumes_at
    first_seen = later.first_seen
    later_orders = order_keys(later)
    if (
        checkpoint.rules_key != Thresholds.of(rules).key
        or checkpoint.points_total != checkpoint.points_consumed  # facts dated later pending
        or start.t > now
        or first_seen is None
        or first_seen.at <= start.first_seen_at
        or later.profile  # contact keys read the whole profile
        or later.refunds
        or not later_orders.isdisjoint(checkpoint.order_keys)  # an order updated
        or not checkpoint.ticket_ids.isdisjoint(later.complaints)
    ):
        return None
    points = points_of(later)
    if any(point.at <= start.t or point.at > now for point in points):
        return None
    replay = Replay(
        later, rules, start.first_seen_at, keep_checkpoint=True, points=points, state=start.copy()
    )
    replay.continue_after(checkpoint, points)
    replay.run_until(now)
    state = replay.state(now)
    folded = replay.checkpoint
    assert folded is not None  # continue_after starts from one
    folded = Checkpoint(  # the constructor, not dataclasses.replace: this runs per event
        folded.rules_key,
        folded.points_consumed,
        folded.history_len,
        folded.state,
        folded.points_total,
        folded.clock,
        checkpoint.order_keys | later_orders if later_orders else checkpoint.order_keys,
        checkpoint.ticket_ids | frozenset(later.complaints)
        if later.complaints
        else checkpoint.ticket_ids,
    )
    appended = tuple(state.history)
    return Folded(state, appended, folded)


def derive_by_clock(
    customer_id: str,
    first_seen_at: datetime | None,
    rules: LifecycleRules,
    now: datetime,
    earlier_history: Sequence[Transition],
    checkpoint: Checkpoint,
) -> tuple[LifecycleState, Checkpoint] | None:
    """`derive_resuming` for a customer whose checkpoint has folded in every one of its facts:
    only the clock moves such a customer on, so the facts themselves are not needed (the
    scheduler's case). It resumes from the clock mark when there is one, else from the
    last fact.

    The checkpoint to store comes back as it was, unless the history changed: then it is what
    a full derive would store, its clock mark moved to `now`.
    None when that does not hold (other rules, facts left unreplayed, a clock that went
    back before them): the caller then derives from the facts.
    """
    _aware(now)
    if (
        first_seen_at is None
        or first_seen_at > now
        or checkpoint.points_total is None
        or checkpoint.points_consumed != checkpoint.points_total
        or checkpoint.rules_key != Thresholds.of(rules).key
    ):
        return None
    start = _clock_start(checkpoint, len(earlier_history), now)
    if start is None:
        return None
    replay = Replay(CustomerFacts(customer_id), rules, first_seen_at)  # no facts left to fold
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


def next_due(
    facts: CustomerFacts, rules: LifecycleRules, state: LifecycleState, now: datetime
) -> datetime | None:
    """When to derive again if no event arrives: the earliest future change, or None."""
    if state.as_of == now and state.customer_id == facts.customer_id:
        return state.next_due_at
    return derive(facts, rules, now).next_due_at


# --- ordering the facts ----------------------------------------------------------------------


class PointKind(IntEnum):
    # Facts at one instant apply in this order, all before any clock due at that instant.
    PURCHASE = 0
    COMPLAINT = 1
    SCORE = 2


class Point(NamedTuple):
    """One fact the rules react to, at the moment it happened."""

    at: datetime
    kind: PointKind
    event_id: str
    ticket_id: str
    amount: Decimal
    category: str | None
    churn_risk: float


def points_of(facts: CustomerFacts) -> list[Point]:
    """The facts in replay order: one point per order that counts (placed by its first
    version), per complaint ticket (when opened) and per score reading."""
    points = [
        Point(order.placed_at, PointKind.PURCHASE, order.placed_by, "", order.amount,
              order.category, 0.0)
        for order in facts.orders()
    ]  # fmt: skip
    for ticket_id, ticket in facts.complaints.items():
        opened = ticket.opened
        points.append(
            Point(opened.at, PointKind.COMPLAINT, opened.event_id, ticket_id, _ZERO, None, 0.0)
        )
    for event_id, reading in facts.scores.items():
        points.append(
            Point(reading.as_of, PointKind.SCORE, event_id, "", _ZERO, None, reading.churn_risk)
        )
    points.sort(key=_point_order)
    return points


def _point_order(point: Point) -> tuple[datetime, PointKind, str, str]:
    return point.at, point.kind, point.event_id, point.ticket_id


_ZERO = Decimal(0)


# --- the clock -------------------------------------------------------------------------------


class Clock(IntEnum):
    # Clocks due at one instant fire in this order.
    EARLY_ABORT = 0
    INACTIVITY = 1
    COMPLAINTS_SUBSIDE = 2
    USUAL_GAP_EXCEEDED = 3
    NEW_CATEGORY_EXPIRES = 4
    QUARTER_STARTS = 5
    TIER_DECAY = 6
    LONG_LASTING = 7


_CLOCKS: tuple[tuple[Clock, Callable[[CustomerState, Thresholds], datetime | None]], ...] = (
    (Clock.EARLY_ABORT, rule.early_abort_due),
    (Clock.INACTIVITY, rule.inactivity_churn_due),
    (Clock.COMPLAINTS_SUBSIDE, rule.complaints_subside_due),
    (Clock.USUAL_GAP_EXCEEDED, rule.at_risk_by_gap_due),
    (Clock.NEW_CATEGORY_EXPIRES, rule.new_category_expires_due),
    (Clock.QUARTER_STARTS, rule.spend_growth_change_due),
    (Clock.TIER_DECAY, rule.tier_decay_due),
    (Clock.LONG_LASTING, rule.long_lasting_due),
)
# What a clock does besides moving time on (every clock then re-reads flags and tier).
_CLOCK_STAGE_CHANGES: dict[Clock, StageChange] = {
    Clock.EARLY_ABORT: (Stage.CHURN, Reason.NO_PURCHASE_AFTER_FIRST_CONTACT),
    Clock.INACTIVITY: (Stage.CHURN, Reason.INACTIVITY),
}


# The clocks that can be due in an active stage, and in another: inactivity, the usual gap,
# quarter starts and long_lasting are due only when active, early abort only when not. Each
# keeps the order of `_CLOCKS` (at one instant, the earlier one fires first).
_ACTIVE_ONLY = {
    Clock.INACTIVITY,
    Clock.USUAL_GAP_EXCEEDED,
    Clock.QUARTER_STARTS,
    Clock.LONG_LASTING,
}
_WHEN_ACTIVE = tuple(entry for entry in _CLOCKS if entry[0] is not Clock.EARLY_ABORT)
_WHEN_INACTIVE = tuple(entry for entry in _CLOCKS if entry[0] not in _ACTIVE_ONLY)


def next_clock(s: CustomerState, r: Thresholds) -> tuple[datetime, Clock] | None:
    """The earliest due clock; at one instant, the one that fires first."""
    best: tuple[datetime, Clock] | None = None
    for clock, due in _WHEN_ACTIVE if s.active else _WHEN_INACTIVE:
        at = due(s, r)
        if at is not None and (best is None or at < best[0]):
            best = (at, clock)
    return best


# --- the transition log ----------------------------------------------------------------------


class TransitionLog:
    """The transitions recorded so far, after a stored prefix left unparsed; ids made unique."""

    __slots__ = ("_customer_id", "_ids", "_new", "_prefix", "_prefix_len")

    def __init__(self, customer_id: str) -> None:
        self._customer_id = customer_id
        self._prefix: StoredHistory | None = None
        self._prefix_len = 0
        self._new: list[Transition] = []
        self._ids: set[str] | None = set()  # None: the prefix's, not read yet

    def restore_unread(self, kept: int) -> None:
        """Continue after `kept` stored transitions that are neither read nor returned."""
        self._prefix, self._prefix_len, self._new, self._ids = None, kept, [], set()

    def restore(self, history: Sequence[Transition], kept: int) -> None:
        """Continue after `history[:kept]`."""
        if isinstance(history, StoredHistory):  # its items stay unparsed unless read
            self._prefix, self._prefix_len, self._new, self._ids = history, kept, [], None
        else:
            self._prefix, self._prefix_len = None, 0
            self._new = list(history[:kept])
            self._ids = {t.id for t in self._new}

    def __len__(self) -> int:
        return self._prefix_len + len(self._new)

    def record(
        self,
        kind: TransitionKind,
        from_stage: Stage | None,
        to_stage: Stage,
        at: datetime,
        reason: Reason,
        cause: str,
        flag: tuple[Flag, bool] | None = None,
        tiers: tuple[Tier, Tier] | None = None,
    ) -> None:
        fields = (
            self._customer_id,
            kind,
            from_stage,
            to_stage,
            flag[0] if flag else None,
            flag[1] if flag else None,
            tiers[0] if tiers else None,
            tiers[1] if tiers else None,
            at,
        )
        ids = self._ids
        if ids is None:
            assert self._prefix is not None
            ids = self._ids = set(self._prefix.ids[: self._prefix_len])
            ids.update(t.id for t in self._new)
        # The same change, at the same moment, for the same cause, again: numbered.
        unique_id, repeat = transition_id(*fields, reason, cause), 1
        while unique_id in ids:
            repeat += 1
            unique_id = transition_id(*fields, reason, f"{cause}#{repeat}")
        ids.add(unique_id)
        self._new.append(Transition(unique_id, *fields, reason, cause))

    def history(self) -> Sequence[Transition]:
        if self._prefix is None:
            return tuple(self._new)
        return History(self._prefix, self._prefix_len, self._new)


# --- the replay ------------------------------------------------------------------------------


class Replay:
    """One customer's replay: a state, the facts still to fold in, and the transition log."""

    def __init__(
        self,
        facts: CustomerFacts,
        rules: LifecycleRules,
        first_seen_at: datetime,
        keep_checkpoint: bool = False,
        points: list[Point] | None = None,
        state: CustomerState | None = None,
    ) -> None:
        """`points`: `points_of(facts)` when the caller has them already; `state`: the state
        to continue from (the replay's own), else the customer's state when first seen."""
        r = self._r = Thresholds.of(rules)
        self._facts = facts
        self._points = points_of(facts) if points is None else points
        self._next_point = 0
        self._offset = 0  # points folded in before these (`continue_after`)
        self.s = state or CustomerState(
            first_seen_at=first_seen_at,
            t=first_seen_at,
            stage_since=first_seen_at,
            trailing=TrailingSpend(r.tier_window),
            quarterly=QuarterlySpend(r.growth_factor, r.growth_quarters, r.calendar),
        )
        self._log = TransitionLog(facts.customer_id)
        self._customer_id = facts.customer_id
        self._keep_checkpoint = keep_checkpoint
        self._recording = True
        self.checkpoint: Checkpoint | None = None

    def enter(self) -> None:
        """Records the entry into acquisition at the first fact: `first_purchase` when that
        fact is a purchase (development follows at once), `first_contact` for any other."""
        first = self._facts.first_seen
        assert first is not None
        reason, cause = Reason.FIRST_CONTACT, first.event_id
        for point in self._points:  # in event-time order
            if point.at > first.at:
                break
            if point.kind is PointKind.PURCHASE:
                reason, cause = Reason.FIRST_PURCHASE, point.event_id
                break
        self._record(TransitionKind.STAGE, None, reason, cause)

    # --- resuming --------------------------------------------------------------------------

    def can_resume(self, earlier: Resume, now: datetime) -> bool:
        checkpoint, consumed = earlier.checkpoint, earlier.checkpoint.points_consumed
        if (
            checkpoint.rules_key != self._r.key
            or earlier.facts.first_seen != self._facts.first_seen
            or consumed > len(self._points)
            or (consumed and self._points[consumed - 1].at > now)
            or checkpoint.history_len > len(earlier.history)
            # A purchase at the first moment turns the entry into a first purchase.
            or (consumed < len(self._points) and self._points[consumed].at <= self._first_at())
        ):
            return False
        if earlier.facts is self._facts:
            return True
        return points_of(earlier.facts)[:consumed] == self._points[:consumed]

    def _first_at(self) -> datetime:
        first = self._facts.first_seen
        assert first is not None
        return first.at

    def resume(self, earlier: Resume) -> None:
        checkpoint = earlier.checkpoint
        self.restore(earlier.history, checkpoint.history_len, checkpoint.state)
        self._next_point = checkpoint.points_consumed
        if checkpoint.points_total != len(self._points) or checkpoint.clock is not None:
            # Facts dated later may have arrived meanwhile; the clock mark is taken afresh.
            checkpoint = replace(checkpoint, points_total=len(self._points), clock=None)
        self.checkpoint = checkpoint

    def restore(self, history: Sequence[Transition], kept: int, state: CustomerState) -> None:
        """Continue from `state`, which had recorded `history[:kept]`."""
        self._log.restore(history, kept)
        self.s = state.copy()

    def continue_after(self, checkpoint: Checkpoint, points: list[Point]) -> None:
        """Fold `points` (all later than `checkpoint.resumes_at`) into the checkpoint's latest
        state; the stored history is left unread: no transition recorded from here can be at
        its moment or before (new facts are later, due clocks at that moment have fired)."""
        self._points = points
        self._offset = checkpoint.points_consumed
        self._log.restore_unread(checkpoint.stored_history_len)
        # The replay was made with a copy of `checkpoint.resumes_at` (`fold_later_facts`).
        if not points:  # nothing to fold: the checkpoint stands (a clock that fires moves its mark)
            self.checkpoint = checkpoint

    def _snapshot(self) -> Checkpoint:
        return Checkpoint(
            self._r.key,
            self._offset + self._next_point,
            len(self._log),
            self.s.copy(),
            self._offset + len(self._points),
        )

    # --- driving ---------------------------------------------------------------------------

    def run_until(self, now: datetime) -> None:
        points, count = self._points, len(self._points)
        keep = self._keep_checkpoint
        if keep and self.checkpoint is None and not self._point_due_by(now):
            self.checkpoint = self._snapshot()  # no fact to replay: the start is the checkpoint
        fired = False  # since the checkpoint
        while True:
            point_at = points[self._next_point].at if self._next_point < count else None
            clock = next_clock(self.s, self._r)
            if clock is not None and clock[0] <= now and (point_at is None or clock[0] < point_at):
                self._fire(*clock)
                fired = True
            elif point_at is not None and point_at <= now:
                self._fold(points[self._next_point])
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
            mark = ClockMark(len(self._log), self.s.copy())
            self.checkpoint = Checkpoint(  # not dataclasses.replace: this runs per event
                checkpoint.rules_key,
                checkpoint.points_consumed,
                checkpoint.history_len,
                checkpoint.state,
                checkpoint.points_total,
                mark,
                checkpoint.order_keys,
                checkpoint.ticket_ids,
            )

    def next_change_after(self, now: datetime) -> datetime | None:
        """Keep the clock running past `now` (without new facts) until something shows.

        Only the moment is wanted: the transitions of that run are not recorded."""
        before = self._observable()
        self._recording = False
        points, count = self._points, len(self._points)
        while True:
            point_at = points[self._next_point].at if self._next_point < count else None
            clock = next_clock(self.s, self._r)
            if clock is not None and (point_at is None or clock[0] < point_at):
                self._fire(*clock)
                if self._observable() != before:
                    return clock[0]
            else:
                return point_at

    def state(self, now: datetime) -> LifecycleState:
        """The state at `now` (where `run_until(now)` left the replay); runs the clock past it."""
        s = self.s
        flags = frozenset(
            flag for flag, on in ((Flag.AT_RISK, s.at_risk), (Flag.UPGRADE_CANDIDATE, s.upgrade))
            if on
        )  # fmt: skip
        # Read before `next_change_after`, which moves the replay on (and records nothing).
        fields = (
            self._customer_id,
            now,
            s.stage,
            s.stage_since,
            flags,
            s.tier,
            rule.lifecycle_pattern(s),
            s.reactivations,
            s.first_seen_at,
            s.first_purchase_at,
            s.last_purchase_at,
            len(s.occasion_days),
            s.total_spend,
            s.trailing.total,
            s.churn_risk,
            self._log.history(),
        )
        return LifecycleState(*fields, next_due_at=self.next_change_after(now))

    def _point_due_by(self, now: datetime) -> bool:
        return self._next_point < len(self._points) and self._points[self._next_point].at <= now

    def _observable(self) -> tuple[object, ...]:
        s = self.s
        return (
            s.stage,
            s.stage_since,
            bool(s.at_risk),
            bool(s.upgrade),
            s.tier,
            rule.lifecycle_pattern(s),
        )

    def _advance(self, to: datetime) -> None:
        s = self.s
        if to <= s.t:
            return
        s.t = to
        s.trailing.expire(to)
        complaints, window = s.complaints, self._r.complaint_window
        while complaints and to - complaints[0] >= window:
            complaints.popleft()

    # --- folding facts ---------------------------------------------------------------------

    def _fold(self, point: Point) -> None:
        self._advance(point.at)
        if point.kind is PointKind.PURCHASE:
            self._fold_purchase(point)
        elif point.kind is PointKind.COMPLAINT:
            self.s.complaints.append(point.at)
        else:
            self.s.churn_risk = point.churn_risk
        self._refresh(point.event_id)

    def _fold_purchase(self, point: Point) -> None:
        s, r = self.s, self._r
        at, amount, category = point.at, point.amount, point.category
        s.total_spend += amount
        s.trailing.add(at, amount)
        s.quarterly.add(at, amount)
        day = r.calendar.day(at)
        last_day = None if s.last_purchase_at is None else r.calendar.day(s.last_purchase_at)
        if last_day != day:  # a new purchase occasion
            s.usual_gap = None  # read from the occasions and their gaps
            if last_day is not None:
                insort(s.gaps, (day - last_day).days)
                s.categories_before_today |= s.categories_today
                s.categories_today = set()
            s.occasion_days.append(day)
        if s.first_purchase_at is None:
            s.first_purchase_at = at
        s.last_purchase_at = at
        if category:
            if rule.is_new_category(s, category):
                s.new_category_at = at
            s.categories_today.add(category)
        entered = rule.first_purchase(s) or rule.reactivation(s)
        if entered is not None:
            if entered[1] is Reason.REACTIVATED:
                s.reactivations += 1
            self._change_stage(entered, point.event_id)
        settled = rule.repeat_purchases(s, r)
        if settled is not None:
            self._change_stage(settled, point.event_id)

    def _fire(self, at: datetime, clock: Clock) -> None:
        self._advance(at)
        change = _CLOCK_STAGE_CHANGES.get(clock)
        if change is not None:
            self._change_stage(change, CLOCK)
        elif clock is Clock.LONG_LASTING:
            self.s.long_lasting = True
        self._refresh(CLOCK)

    # --- transitions -----------------------------------------------------------------------

    def _change_stage(self, change: StageChange, cause: str) -> None:
        s = self.s
        came_from, (to, reason) = s.stage, change
        s.stage, s.stage_since, s.long_lasting = to, s.t, False
        if to is Stage.CHURN:
            s.churned_from = came_from
        self._record(TransitionKind.STAGE, came_from, reason, cause)

    def _refresh(self, cause: str) -> None:
        """Re-reads the flags and the tier after a fact or a clock; records what changed."""
        s, r = self.s, self._r
        at_risk = rule.at_risk_causes(s, r)
        if bool(s.at_risk) != bool(at_risk):
            if at_risk:
                reason = at_risk[0]
            elif not s.active:
                reason = Reason.CHURNED
            else:
                reason = rule.AT_RISK_CLEARED_BY[s.at_risk[0]]
            flag = (Flag.AT_RISK, bool(at_risk))
            self._record(TransitionKind.FLAG, s.stage, reason, cause, flag=flag)
        s.at_risk = at_risk
        upgrade = rule.upgrade_signals(s, r)
        if bool(s.upgrade) != bool(upgrade):
            if upgrade:
                reason = upgrade[0]
            elif not s.active:
                reason = Reason.CHURNED
            else:
                reason = Reason.UPGRADE_SIGNAL_EXPIRED
            flag = (Flag.UPGRADE_CANDIDATE, bool(upgrade))
            self._record(TransitionKind.FLAG, s.stage, reason, cause, flag=flag)
        s.upgrade = upgrade
        tier = rule.tier_for_trailing_spend(s, r)
        if tier is not s.tier:
            rose = tier.rank > s.tier.rank
            reason = Reason.TRAILING_SPEND_INCREASED if rose else Reason.TRAILING_SPEND_DECREASED
            self._record(TransitionKind.TIER, s.stage, reason, cause, tiers=(s.tier, tier))
            s.tier = tier

    def _record(
        self,
        kind: TransitionKind,
        from_stage: Stage | None,
        reason: Reason,
        cause: str,
        flag: tuple[Flag, bool] | None = None,
        tiers: tuple[Tier, Tier] | None = None,
    ) -> None:
        if self._recording:
            self._log.record(kind, from_stage, self.s.stage, self.s.t, reason, cause, flag, tiers)


def _same_transitions(history: Sequence[Transition], earlier: Sequence[Transition]) -> bool:
    if isinstance(earlier, StoredHistory):
        return same_history(history, earlier)  # without reading a history kept as it was
    return ids_of(history) == ids_of(earlier)


def _clock_start(
    checkpoint: Checkpoint, history_len: int, now: datetime
) -> tuple[int, CustomerState] | None:
    """The latest replay position dated by `now` that the stored history still holds."""
    mark = checkpoint.clock
    if mark is not None and mark.history_len <= history_len and mark.state.t <= now:
        return mark.history_len, mark.state
    if checkpoint.history_len <= history_len and checkpoint.state.t <= now:
        return checkpoint.history_len, checkpoint.state
    return None


def _aware(now: datetime) -> None:
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")


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
