"""The incremental engine, driven as the service drives it, derives what a plain full replay does.

The service keeps per customer a facts document, the facts that came after it, a checkpoint
and a history. An in-order batch is folded into the checkpoint (`fold_later_facts`: the
document and the history are neither read nor rewritten, transitions are appended); any
other batch replays from the nearest checkpoint (`derive_resuming`) and rewrites them; the
scheduler moves a customer on by the clock alone (`derive_by_clock`). Checkpoints go through
their storage encoding each time.
"""

from collections.abc import Sequence
from datetime import timedelta

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.lifecycle.adapters.snapshot_codec import checkpoint_from_json, checkpoint_to_json
from services.lifecycle.domain import (
    CustomerFacts,
    DomainEvent,
    LifecycleRules,
    Resume,
    changes_between,
    derive,
    derive_by_clock,
    derive_resuming,
)
from services.lifecycle.domain.checkpoint import Checkpoint
from services.lifecycle.domain.engine import LifecycleState, fold_later_facts
from services.lifecycle.domain.facts import apply_all
from services.lifecycle.domain.transitions import Transition
from tests.unit.lifecycle.story import T0
from tests.unit.lifecycle.test_replay_properties import CUSTOMER, RULES, deliveries, histories


def stored(checkpoint: Checkpoint | None, rules: LifecycleRules) -> Checkpoint | None:
    return checkpoint and checkpoint_from_json(
        orjson.loads(orjson.dumps(checkpoint_to_json(checkpoint))), rules
    )


class Customer:
    """One customer's stored row, as the service reads and writes it."""

    def __init__(self, rules: LifecycleRules) -> None:
        self.rules = rules
        self.document = CustomerFacts(CUSTOMER)
        self.later: list[DomainEvent] = []  # the rows after the document
        self.checkpoint: Checkpoint | None = None
        self.history: list[Transition] = []
        self.seen: set[str] = set()
        self.folded = self.replayed = 0

    def receive(self, batch: Sequence[DomainEvent], now) -> LifecycleState:  # type: ignore[no-untyped-def]
        fresh = []
        for event in batch:  # the dedup rows: a repeated event id counts once
            if event.event_id not in self.seen:
                self.seen.add(event.event_id)
                fresh.append(event)
        folded = None
        if self.checkpoint is not None and fresh:
            later = apply_all(CustomerFacts(CUSTOMER), fresh)
            folded = fold_later_facts(later, self.rules, now, self.checkpoint)
        if folded is not None:
            self.folded += 1
            self.later += fresh
            self.history += folded.appended
            self.checkpoint = stored(folded.checkpoint, self.rules)
            return folded.state
        self.replayed += 1
        earlier = apply_all(self.document, self.later)
        facts = apply_all(earlier, fresh)
        resume = Resume(earlier, self.history, self.checkpoint) if self.checkpoint else None
        state, checkpoint = derive_resuming(facts, self.rules, now, resume)
        changes_between(self.history, state.history)  # the corrections it publishes
        self.document, self.later = facts, []
        self.history, self.checkpoint = list(state.history), stored(checkpoint, self.rules)
        return state

    def tick(self, now) -> LifecycleState:  # type: ignore[no-untyped-def]
        """The scheduler: by the clock alone when it can, else from the facts."""
        facts = apply_all(self.document, self.later)
        if self.checkpoint is not None:
            by_clock = derive_by_clock(
                CUSTOMER, facts.first_seen_at, self.rules, now, self.history, self.checkpoint
            )
            if by_clock is not None:
                state, kept = by_clock
                self.history, self.checkpoint = list(state.history), stored(kept, self.rules)
                return state
        resume = Resume(facts, self.history, self.checkpoint) if self.checkpoint else None
        state, checkpoint = derive_resuming(facts, self.rules, now, resume)
        self.document, self.later = facts, []
        self.history, self.checkpoint = list(state.history), stored(checkpoint, self.rules)
        return state


def without_history(state: LifecycleState) -> dict[str, object]:
    return {k: getattr(state, k) for k in state.__dataclass_fields__ if k != "history"}


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    rules=RULES,
    late_share=st.sampled_from([0.0, 0.0, 0.05, 0.3]),
    batches=st.integers(min_value=1, max_value=8),
)
def test_the_incremental_engine_derives_what_a_full_replay_derives(
    data, rules, late_share, batches
):
    events = data.draw(histories())
    delivered = sorted(data.draw(deliveries(events)), key=lambda e: (e.occurred_at, e.event_id))
    late = [e for e in delivered if data.draw(st.floats(0, 1)) < late_share]
    delivered = [e for e in delivered if e not in late]
    for event in late:  # arrives after a later event: anywhere after its place
        delivered.insert(data.draw(st.integers(0, len(delivered))), event)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(delivered)), min_size=batches)))
    customer = Customer(rules)
    start, now = 0, T0 - timedelta(days=1)
    for cut in [*cuts, len(delivered)]:
        batch = delivered[start:cut]
        start = cut
        # The event-time clock: the latest event seen, sometimes moved on further.
        latest = max((e.occurred_at for e in batch), default=now)
        now = max(now, latest) + timedelta(hours=data.draw(st.sampled_from([0, 1, 30 * 24])))
        if data.draw(st.booleans()):
            customer.tick(now)
        state = customer.receive(batch, now)
        expected = derive(apply_all(CustomerFacts(CUSTOMER), delivered[:start]), rules, now)
        if state.first_seen_at is not None:
            assert without_history(state) == without_history(expected)
        assert tuple(customer.history) == tuple(expected.history)
        if data.draw(st.booleans()):  # the scheduler runs between batches
            now += timedelta(days=data.draw(st.integers(0, 200)))
            ticked = customer.tick(now)
            assert ticked == derive(
                apply_all(CustomerFacts(CUSTOMER), delivered[:start]), rules, now
            )


def test_in_order_purchases_fold_without_replaying():
    rules, customer, sent = LifecycleRules(), Customer(LifecycleRules()), []
    for n in range(10):
        at = T0 + timedelta(days=n * 20)
        sent.append(DomainEvent(f"p{n}", "purchase", CUSTOMER, at, {"amount": "10"}))  # type: ignore[arg-type]
        state = customer.receive(sent[-1:], at)
        expected = derive(apply_all(CustomerFacts(CUSTOMER), sent), rules, at)
        assert without_history(state) == without_history(expected)
        assert tuple(customer.history) == tuple(expected.history)
    assert (customer.replayed, customer.folded) == (1, 9)  # the first one has no checkpoint
