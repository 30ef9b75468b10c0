"""Resuming a replay from its checkpoint derives exactly what a full replay derives."""

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime, timedelta

import orjson
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from services.lifecycle.adapters.snapshot_codec import (
    CHECKPOINT_FORMAT_VERSION,
    checkpoint_from_json,
    checkpoint_to_json,
    state_to_json,
    with_clock_mark,
)
from services.lifecycle.domain import (
    CLOCK_ONLY_FIELDS,
    Checkpoint,
    CustomerFacts,
    LifecyclePattern,
    LifecycleRules,
    LifecycleState,
    Resume,
    derive,
    derive_by_clock,
    derive_resuming,
    engine,
)
from services.lifecycle.domain.checkpoint import rules_key
from services.lifecycle.domain.facts import apply_all
from services.lifecycle.domain.transitions import (
    StoredHistory,
    Transition,
    history_text,
    ids_of,
)
from tests.unit.lifecycle.story import DEFAULT_RULES, T0, Story
from tests.unit.lifecycle.test_replay_properties import (
    CUSTOMER,
    RULES,
    TIGHT_RULES,
    deliveries,
    histories,
)


def through_storage(checkpoint: Checkpoint | None) -> Checkpoint | None:
    return checkpoint and checkpoint_from_json(
        orjson.loads(orjson.dumps(checkpoint_to_json(checkpoint))), RULES_OF[checkpoint.rules_key]
    )


# The rules a stored checkpoint is read back with (the service reads it with its own).
RULES_OF = {rules_key(rules): rules for rules in (DEFAULT_RULES, LifecycleRules(), TIGHT_RULES)}


def history_through_storage(history: Sequence[Transition]) -> StoredHistory:
    """As the service reads it back: items parsed only where a derivation reads them."""
    return StoredHistory.from_text(history_text([t.to_line() for t in history]))


def first_seen_at(facts: CustomerFacts) -> datetime | None:
    return facts.first_seen.at if facts.first_seen else None


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    rules=RULES,
    in_event_time_order=st.booleans(),
    steps=st.lists(st.integers(min_value=-5, max_value=120), min_size=1, max_size=5),
)
def test_resuming_step_by_step_equals_a_full_replay(data, rules, in_event_time_order, steps):
    events = data.draw(histories())
    delivered = data.draw(deliveries(events))
    if in_event_time_order:  # the common case: every batch is later than what came before
        delivered = sorted(delivered, key=lambda e: (e.occurred_at, e.event_id))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(delivered)), min_size=len(steps))))
    facts, checkpoint = CustomerFacts(CUSTOMER), None
    history: Sequence[Transition] = ()
    now, start = T0, 0
    for advance, cut in zip(steps, cuts, strict=False):
        earlier = facts
        facts = apply_all(facts, delivered[start:cut])
        start = cut
        now += timedelta(days=advance, hours=5)  # may step back: a wall clock is not monotonic
        resume = Resume(earlier, history, checkpoint) if checkpoint else None
        state, checkpoint = derive_resuming(facts, rules, now, resume)
        full_state, full_checkpoint = derive_resuming(facts, rules, now, None)
        assert state == full_state == derive(facts, rules, now)
        assert checkpoint == full_checkpoint
        history, checkpoint = history_through_storage(state.history), through_storage(checkpoint)


def test_purchases_in_event_time_order_resume_instead_of_replaying(monkeypatch):
    resumed: list[int] = []
    original = engine.Replay.resume

    def counting(self: engine.Replay, earlier: Resume) -> None:
        resumed.append(1)
        original(self, earlier)

    monkeypatch.setattr(engine.Replay, "resume", counting)
    story = Story()
    facts, checkpoint = CustomerFacts(story.customer_id), None
    history: Sequence[Transition] = ()
    for n in range(6):
        earlier = facts
        facts = apply_all(facts, [story.purchase(n * 40, amount="120")])
        now = T0 + timedelta(days=n * 40 + 1)
        resume = Resume(earlier, history, checkpoint) if checkpoint else None
        state, checkpoint = derive_resuming(facts, DEFAULT_RULES, now, resume)
        assert state == derive(facts, DEFAULT_RULES, now)
        history, checkpoint = state.history, through_storage(checkpoint)
    assert len(resumed) == 5


def test_a_late_purchase_replays_in_full():
    story = Story()
    base = apply_all(CustomerFacts(story.customer_id), [story.purchase(10), story.purchase(50)])
    now = T0 + timedelta(days=300)
    state, checkpoint = derive_resuming(base, DEFAULT_RULES, now, None)
    assert checkpoint is not None
    late = apply_all(base, [story.purchase(20)])
    resumed, _ = derive_resuming(late, DEFAULT_RULES, now, Resume(base, state.history, checkpoint))
    assert resumed == derive(late, DEFAULT_RULES, now)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=histories(),
    rules=RULES,
    first=st.integers(min_value=-5, max_value=800),
    later=st.integers(min_value=-30, max_value=400),
    again=st.integers(min_value=-30, max_value=400),
)
def test_the_clock_alone_moves_a_fully_replayed_checkpoint_like_a_full_replay(
    events, rules, first, later, again
):
    facts = apply_all(CustomerFacts(CUSTOMER), events)
    now = T0 + timedelta(days=first, hours=3)
    state, checkpoint = derive_resuming(facts, rules, now, None)
    assume(checkpoint is not None)
    stored, history = through_storage(checkpoint), history_through_storage(state.history)
    assert stored is not None
    # Twice, as the scheduler does: the second time from what the first one stored.
    for then in (now + timedelta(days=later, hours=7), now + timedelta(days=later + again)):
        by_clock = derive_by_clock(CUSTOMER, first_seen_at(facts), rules, then, history, stored)
        if by_clock is None:  # refused: facts after the checkpoint, or the clock went back
            assert stored.points_consumed < (stored.points_total or 0) or then < now
            return
        by_clock_state, kept = by_clock
        assert by_clock_state == derive(facts, rules, then)
        full_state, full_checkpoint = derive_resuming(facts, rules, then, None)
        assert derive_resuming(facts, rules, then, Resume(facts, history, stored)) == (
            full_state,
            full_checkpoint,
        )
        if ids_of(by_clock_state.history) == ids_of(history):
            assert kept is stored  # the row keeps its checkpoint
        else:  # rewritten as a full derive stores it: its clock mark at `then` (or none)
            assert kept == full_checkpoint
        restored = through_storage(kept)
        assert restored is not None
        stored, history = restored, history_through_storage(by_clock_state.history)


def test_a_customer_with_every_fact_replayed_churns_by_the_clock_alone():
    story = Story()
    facts = apply_all(CustomerFacts(story.customer_id), [story.purchase(0), story.purchase(30)])
    state, checkpoint = derive_resuming(facts, DEFAULT_RULES, T0 + timedelta(days=31), None)
    stored = through_storage(checkpoint)
    assert stored is not None and stored.points_consumed == stored.points_total == 2
    later = T0 + timedelta(days=400)
    by_clock = derive_by_clock(
        story.customer_id, first_seen_at(facts), DEFAULT_RULES, later, state.history, stored
    )
    assert by_clock is not None and by_clock[0].stage.value == "churn"
    assert by_clock[0] == derive(facts, DEFAULT_RULES, later)
    other_rules = DEFAULT_RULES.model_copy(
        update={"stages": DEFAULT_RULES.stages.model_copy(update={"churn_inactivity_days": 90})}
    )
    assert (
        derive_by_clock(
            story.customer_id, first_seen_at(facts), other_rules, later, state.history, stored
        )
        is None
    )


def test_the_clock_resumes_from_where_it_stopped_not_from_the_last_fact(monkeypatch):
    story = Story()
    facts = apply_all(CustomerFacts(story.customer_id), [story.purchase(0), story.purchase(30)])
    state, checkpoint = derive_resuming(facts, DEFAULT_RULES, T0 + timedelta(days=400), None)
    stored = through_storage(checkpoint)
    assert state.stage.value == "churn"
    assert stored is not None and stored.clock is not None
    assert stored.clock.history_len == len(state.history)  # the churn is behind the mark
    fired: list[object] = []
    original = engine.Replay._fire

    def counting(self: engine.Replay, at: datetime, clock: object) -> None:
        fired.append(clock)
        original(self, at, clock)  # type: ignore[arg-type]

    monkeypatch.setattr(engine.Replay, "_fire", counting)
    later = T0 + timedelta(days=401)
    by_clock = derive_by_clock(
        story.customer_id, first_seen_at(facts), DEFAULT_RULES, later, state.history, stored
    )
    assert fired == []  # nothing was due between the mark and `later`
    assert by_clock == (derive(facts, DEFAULT_RULES, later), stored)
    fired.clear()
    before_mark = T0 + timedelta(days=200)  # a clock set back: the last fact is the start
    by_clock = derive_by_clock(
        story.customer_id, first_seen_at(facts), DEFAULT_RULES, before_mark, state.history, stored
    )
    assert fired  # the clocks after the last fact, again
    assert by_clock is not None and by_clock[0] == derive(facts, DEFAULT_RULES, before_mark)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=histories(),
    rules=RULES,
    first=st.integers(min_value=-5, max_value=800),
    later=st.integers(min_value=-60, max_value=400),
)
def test_a_rederivation_that_keeps_facts_and_history_changes_only_the_clock_only_fields(
    events, rules, first, later
):
    # What the scheduler relies on when it writes only CLOCK_ONLY_FIELDS for such a customer.
    facts = apply_all(CustomerFacts(CUSTOMER), events)
    now, then = T0 + timedelta(days=first, hours=3), T0 + timedelta(days=first + later, hours=10)
    before, after = derive(facts, rules, now), derive(facts, rules, then)
    # Its stored checkpoint was kept: no fact is dated between the two derivations.
    earlier, later_moment = min(now, then), max(now, then)
    assume(not any(earlier < e.occurred_at <= later_moment for e in events))
    assume(before.first_seen_at is not None and after.first_seen_at is not None)
    assume(ids_of(before.history) == ids_of(after.history))
    kept = {f.name for f in fields(LifecycleState)} - set(CLOCK_ONLY_FIELDS) - {"history"}
    assert {name: getattr(after, name) for name in kept} == {
        name: getattr(before, name) for name in kept
    }


def test_tenure_turns_the_pattern_long_lasting_without_a_transition():
    # Why lifecycle_pattern is among CLOCK_ONLY_FIELDS: maintenance since day 20, tenure 120 days.
    story = Story()
    facts = apply_all(
        CustomerFacts(story.customer_id), [story.purchase(n, amount="0") for n in range(0, 91, 10)]
    )
    before = derive(facts, TIGHT_RULES, T0 + timedelta(days=125))
    after = derive(facts, TIGHT_RULES, T0 + timedelta(days=145))
    assert ids_of(before.history) == ids_of(after.history)
    assert before.lifecycle_pattern is None
    assert after.lifecycle_pattern is LifecyclePattern.LONG_LASTING


def as_format_4(checkpoint: Checkpoint) -> dict[str, object]:
    """The document an earlier version stored: each state a keyed object."""
    document = checkpoint_to_json(checkpoint)
    document["v"] = 4
    document["replay"] = state_to_json(checkpoint.state)
    if checkpoint.clock is not None:
        document["clock"] = {
            "history": checkpoint.clock.history_len,
            "replay": state_to_json(checkpoint.clock.state),
        }
    return document


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=histories(), rules=RULES, days=st.integers(min_value=-5, max_value=800))
def test_a_checkpoint_stored_in_format_4_reads_back_as_it_was(events, rules, days):
    facts = apply_all(CustomerFacts(CUSTOMER), events)
    _, checkpoint = derive_resuming(facts, rules, T0 + timedelta(days=days, hours=3), None)
    assume(checkpoint is not None)
    assert checkpoint is not None and CHECKPOINT_FORMAT_VERSION == 5
    stored = orjson.loads(orjson.dumps(as_format_4(checkpoint)))
    assert checkpoint_from_json(stored, RULES_OF[checkpoint.rules_key]) == checkpoint
    assert through_storage(checkpoint) == checkpoint  # and in the current format


def test_a_checkpoint_of_an_unknown_format_is_replayed_instead():
    story = Story()
    facts = apply_all(CustomerFacts(story.customer_id), [story.purchase(0)])
    _, checkpoint = derive_resuming(facts, DEFAULT_RULES, T0 + timedelta(days=1), None)
    assert checkpoint is not None
    document = checkpoint_to_json(checkpoint)
    for version in (3, 6):
        assert checkpoint_from_json({**document, "v": version}, DEFAULT_RULES) is None


def test_only_a_current_format_document_gets_a_new_clock_mark_in_place():
    story = Story()
    facts = apply_all(CustomerFacts(story.customer_id), [story.purchase(0)])
    state, checkpoint = derive_resuming(facts, DEFAULT_RULES, T0 + timedelta(days=1), None)
    assert checkpoint is not None
    at = T0 + timedelta(days=400)
    later = derive_by_clock(
        story.customer_id, state.first_seen_at, DEFAULT_RULES, at, state.history, checkpoint
    )
    assert later is not None and later[1].clock is not None
    mark = later[1].clock
    moved = with_clock_mark(checkpoint_to_json(checkpoint), mark)
    assert moved is not None
    read = checkpoint_from_json(orjson.loads(orjson.dumps(moved)), DEFAULT_RULES)
    assert read is not None and read.clock == mark and read.state == checkpoint.state
    # A format-4 document's states are keyed objects: a list-shaped mark would corrupt it.
    assert with_clock_mark(as_format_4(checkpoint), mark) is None
