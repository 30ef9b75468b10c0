"""Resuming a replay from its checkpoint derives exactly what a full replay derives."""

from datetime import timedelta

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.lifecycle.domain import (
    Checkpoint,
    CustomerFacts,
    Resume,
    derive,
    derive_resuming,
    timeline,
)
from services.lifecycle.domain.facts import apply_all
from services.lifecycle.domain.transitions import Transition
from tests.unit.lifecycle.story import DEFAULT_RULES, T0, Story
from tests.unit.lifecycle.test_replay_properties import CUSTOMER, RULES, deliveries, histories


def through_storage(checkpoint: Checkpoint | None) -> Checkpoint | None:
    return checkpoint and Checkpoint.from_json(orjson.loads(orjson.dumps(checkpoint.to_json())))


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
    history: tuple[Transition, ...] = ()
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
        history, checkpoint = state.history, through_storage(checkpoint)


def test_purchases_in_event_time_order_resume_instead_of_replaying(monkeypatch):
    resumed: list[int] = []
    original = timeline._Replay.resume

    def counting(self: timeline._Replay, earlier: Resume) -> None:
        resumed.append(1)
        original(self, earlier)

    monkeypatch.setattr(timeline._Replay, "resume", counting)
    story = Story()
    facts, checkpoint = CustomerFacts(story.customer_id), None
    history: tuple[Transition, ...] = ()
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
