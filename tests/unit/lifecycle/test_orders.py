"""`order_id` is a purchase's business key: a resent or updated order replaces the earlier
amount, refunds take it off, and any delivery order of the same events gives one state."""

from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.lifecycle.domain.engine import derive
from services.lifecycle.domain.facts import CustomerFacts, DomainEvent, EventType, apply_all
from services.lifecycle.domain.rules import LifecycleRules, TierRules
from services.lifecycle.domain.stages import Reason, Stage, Tier
from tests.unit.lifecycle.story import T0, day, summary

CUSTOMER = "cust-o"
SMALL_TIERS = LifecycleRules(tiers=TierRules(a_min_spend=Decimal(1000), b_min_spend=Decimal(300)))


def purchase(event_id: str, when: float, order_id: str, amount: str, category: str | None = None):
    data = {"order_id": order_id, "amount": amount, "currency": "CNY"}
    if category:
        data["category"] = category
    return DomainEvent(event_id, EventType.PURCHASE, CUSTOMER, day(when), data)


def refund(event_id: str, when: float, order_id: str, amount: str | None = None) -> DomainEvent:
    data: dict[str, object] = {"order_id": order_id}
    if amount is not None:
        data.update(amount=amount, currency="CNY")
    return DomainEvent(event_id, EventType.REFUND, CUSTOMER, day(when), data)


def facts_of(*events: DomainEvent) -> CustomerFacts:
    return apply_all(CustomerFacts(CUSTOMER), events)


def test_an_order_resent_under_a_new_event_id_counts_once() -> None:
    state = derive(
        facts_of(purchase("ev-1", 0, "1001", "100"), purchase("ev-1-retry", 0, "1001", "100")),
        LifecycleRules(),
        day(1),
    )
    assert state.total_spend == Decimal(100)
    assert state.purchase_occasions == 1


def test_an_updated_order_takes_its_latest_amount_whatever_the_arrival_order() -> None:
    original, update = purchase("ev-a", 0, "1001", "100"), purchase("ev-b", 2, "1001", "80")
    for events in ((original, update), (update, original)):
        state = derive(facts_of(*events), LifecycleRules(), day(3))
        assert state.total_spend == Decimal(80)
        assert state.purchase_occasions == 1
        # The order stays placed when it was first sent: the occasion does not move.
        assert state.first_purchase_at == state.last_purchase_at == day(0)


def test_versions_at_one_moment_are_decided_by_the_greater_event_id() -> None:
    events = (purchase("ev-x", 0, "1001", "100"), purchase("ev-y", 0, "1001", "70"))
    assert derive(facts_of(*events), LifecycleRules(), day(1)).total_spend == Decimal(70)
    assert derive(facts_of(*events[::-1]), LifecycleRules(), day(1)).total_spend == Decimal(70)


def test_a_partial_refund_reduces_spend_and_keeps_the_occasion() -> None:
    state = derive(
        facts_of(purchase("ev-1", 0, "1001", "100"), refund("rf-1", 5, "1001", "30")),
        LifecycleRules(),
        day(6),
    )
    assert state.total_spend == Decimal(70)
    assert state.purchase_occasions == 1


def test_a_full_refund_removes_the_order_and_its_occasion() -> None:
    state = derive(
        facts_of(
            purchase("ev-1", 0, "1001", "100"),
            purchase("ev-2", 10, "1002", "50"),
            refund("rf-1", 12, "1002"),
        ),
        LifecycleRules(),
        day(13),
    )
    assert state.total_spend == Decimal(100)
    assert state.purchase_occasions == 1
    assert state.last_purchase_at == day(0)


def test_partial_refunds_that_reach_the_amount_are_a_full_refund() -> None:
    state = derive(
        facts_of(
            purchase("ev-1", 0, "1001", "100"),
            refund("rf-1", 1, "1001", "60"),
            refund("rf-2", 2, "1001", "40"),
        ),
        LifecycleRules(),
        day(3),
    )
    assert state.total_spend == Decimal(0)
    assert state.purchase_occasions == 0


def test_a_refund_that_arrives_before_its_order_applies_when_the_order_arrives() -> None:
    facts = facts_of(refund("rf-1", 5, "1001"))
    assert derive(facts, LifecycleRules(), day(6)).purchase_occasions == 0
    facts = apply_all(facts, [purchase("ev-1", 0, "1001", "100")])
    state = derive(facts, LifecycleRules(), day(6))
    assert state.total_spend == 0 and state.purchase_occasions == 0


def test_refunding_the_only_order_leaves_a_prospect_that_never_bought() -> None:
    bought = facts_of(purchase("ev-1", 0, "1001", "100"))
    assert derive(bought, LifecycleRules(), day(1)).stage is Stage.DEVELOPMENT
    state = derive(apply_all(bought, [refund("rf-1", 1, "1001")]), LifecycleRules(), day(2))
    assert state.stage is Stage.ACQUISITION
    assert state.first_purchase_at is None
    # Known since the order (its entry into acquisition stays); never bought, never developed.
    assert summary(state) == [("stage", "None->acquisition", "first_contact", "ev-1")]


def test_refunding_a_large_order_takes_the_tier_back_down() -> None:
    big = facts_of(purchase("ev-1", 0, "1001", "100"), purchase("ev-2", 3, "1002", "1500"))
    before = derive(big, SMALL_TIERS, day(4))
    assert before.tier is Tier.A
    after = derive(apply_all(big, [refund("rf-1", 5, "1002")]), SMALL_TIERS, day(6))
    assert after.tier is Tier.C
    assert not [t for t in after.history if t.reason is Reason.TRAILING_SPEND_INCREASED]


def test_facts_with_orders_and_refunds_survive_storage() -> None:
    facts = facts_of(
        purchase("ev-1", 0, "1001", "100", "ink"),
        purchase("ev-2", 1, "1001", "90", "ink"),
        refund("rf-1", 2, "1001", "10"),
        refund("rf-2", 3, "1002"),
    )
    assert CustomerFacts.from_json(facts.to_json()) == facts
    assert [o.amount for o in facts.orders()] == [Decimal(80)]


ORDERS = ["o1", "o2", "o3"]


@st.composite
def order_events(draw: st.DrawFn) -> list[DomainEvent]:
    """Purchases, resends and updates of a few orders, and refunds of them."""
    count = draw(st.integers(min_value=1, max_value=14))
    events = []
    for n in range(count):
        when = draw(st.integers(min_value=0, max_value=400)) + draw(st.sampled_from([0, 0.25]))
        order_id = draw(st.sampled_from(ORDERS))
        if draw(st.integers(0, 3)) == 0:
            amount = draw(st.sampled_from([None, "10", "200", "900"]))
            events.append(refund(f"rf{n}", when, order_id, amount))
        else:
            amount = draw(st.sampled_from(["0", "100", "250", "1200"]))
            category = draw(st.sampled_from([None, "ink", "paper"]))
            events.append(purchase(f"ev{n}", when, order_id, amount, category))
    return events


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), offset=st.integers(min_value=0, max_value=800))
def test_any_order_and_duplication_of_purchases_updates_and_refunds_gives_the_same_state(
    data, offset
):
    events = data.draw(order_events())
    repeats = data.draw(st.lists(st.sampled_from(events), max_size=len(events)))
    delivered = data.draw(st.permutations(events + repeats))
    cut = data.draw(st.integers(min_value=0, max_value=len(delivered)))
    stored = apply_all(CustomerFacts(CUSTOMER), delivered[:cut]).to_json()
    facts = apply_all(CustomerFacts.from_json(stored), delivered[cut:])

    expected = apply_all(
        CustomerFacts(CUSTOMER), sorted(events, key=lambda e: (e.occurred_at, e.event_id))
    )
    assert facts == expected
    now = T0 + timedelta(days=offset)
    for rules in (LifecycleRules(), SMALL_TIERS):
        assert derive(facts, rules, now) == derive(expected, rules, now)
    # Spend never counts an order twice: at most the latest amount of each order.
    latest: dict[str, DomainEvent] = {}
    for e in sorted(events, key=lambda e: (e.occurred_at, e.event_id)):
        if e.type is EventType.PURCHASE:
            latest[e.data["order_id"]] = e
    state = derive(facts, LifecycleRules(), T0 + timedelta(days=2000))
    assert state.total_spend <= sum(
        (Decimal(e.data["amount"]) for e in latest.values()), Decimal(0)
    )


def test_a_refund_retracts_what_no_longer_holds_with_reason_order_refunded() -> None:
    from services.lifecycle.domain.changes import changes_between

    bought = facts_of(
        purchase("ev-1", 0, "1001", "100"),
        purchase("ev-2", 10, "1002", "100"),
        purchase("ev-3", 20, "1003", "100"),
    )
    before = derive(bought, LifecycleRules(), day(21))
    assert before.stage is Stage.MAINTENANCE
    after = derive(apply_all(bought, [refund("rf-1", 21, "1002")]), LifecycleRules(), day(22))
    assert after.stage is Stage.DEVELOPMENT
    changes = changes_between(before.history, after.history, "rf-1", Reason.ORDER_REFUNDED)
    [retraction] = changes
    assert (retraction.from_stage, retraction.to_stage) == (Stage.MAINTENANCE, Stage.DEVELOPMENT)
    assert (retraction.reason, retraction.cause_event_id) == (Reason.ORDER_REFUNDED, "rf-1")
    assert retraction.is_correction


def test_the_correction_names_the_refund_or_the_order_update_behind_it() -> None:
    from services.lifecycle.service_layer.processing import _correction_cause
    from shared.kafka_consumer import Decoded

    def batch(*events: DomainEvent) -> list[Decoded[DomainEvent]]:
        return [Decoded(None, e) for e in events]  # type: ignore[arg-type]

    known = facts_of(purchase("ev-1", 0, "1001", "100"))
    update = purchase("ev-9", 1, "1001", "80")
    late = purchase("ev-8", 1, "1009", "80")
    assert _correction_cause(batch(late, refund("rf-1", 2, "1001")), known) == (
        "rf-1",
        Reason.ORDER_REFUNDED,
    )
    assert _correction_cause(batch(late, update), known) == ("ev-9", Reason.ORDER_UPDATED)
    assert _correction_cause(batch(late), known) == ("ev-8", Reason.LATE_EVENT_CORRECTION)
    assert _correction_cause(batch(update), None) == ("ev-9", Reason.LATE_EVENT_CORRECTION)
