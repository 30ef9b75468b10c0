"""Replaying the same events in any order, with any duplicates, derives the same state."""

from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.lifecycle.domain.engine import LifecycleState, derive
from services.lifecycle.domain.facts import (
    CustomerFacts,
    DomainEvent,
    EventType,
    apply,
    apply_all,
)
from services.lifecycle.domain.rules import (
    AtRiskRules,
    LifecycleRules,
    PatternRules,
    StageRules,
    TierRules,
    UpgradeRules,
)
from tests.unit.lifecycle.story import T0

CUSTOMER = "cust-p"
# Short windows so that clocks, tiers and patterns interact within a generated history.
TIGHT_RULES = LifecycleRules(
    stages=StageRules(maintenance_window_days=60, churn_inactivity_days=60, early_abort_days=20),
    at_risk=AtRiskRules(floor_days=10, complaint_window_days=10, churn_risk_threshold=0.5),
    tiers=TierRules(window_days=90, a_min_spend=Decimal(1000), b_min_spend=Decimal(300)),
    upgrade=UpgradeRules(new_category_days=30, growth_quarters=1),
    patterns=PatternRules(long_lasting_days=120),
)
RULES = st.sampled_from([LifecycleRules(), TIGHT_RULES])

moments = st.builds(
    lambda days, hour: T0 + timedelta(days=days, hours=hour),
    st.integers(min_value=0, max_value=700),
    st.sampled_from([0, 0, 6, 23]),
)


@st.composite
def payloads(draw: st.DrawFn) -> tuple[EventType, dict[str, object]]:
    kind = draw(st.sampled_from(list(EventType)))
    if kind is EventType.PURCHASE:
        data: dict[str, object] = {
            "amount": draw(st.sampled_from(["0", "10", "99.50", "250", "800", "1200000"])),
            "currency": "CNY",
        }
        category = draw(st.sampled_from([None, "paper", "ink", "toner"]))
        if category:
            data["category"] = category
        return kind, data
    if kind is EventType.COMPLAINT:
        return kind, {
            "ticket_id": draw(st.sampled_from(["T1", "T2", "T3", "T4", "T5"])),
            "status": draw(st.sampled_from(["opened", "resolved"])),
            "severity": draw(st.sampled_from(["low", "high"])),
        }
    if kind is EventType.SCORE:
        return kind, {"churn_risk": draw(st.sampled_from([0.1, 0.5, 0.6, 0.9]))}
    if kind is EventType.REFUND:  # purchases here are their own orders: refund one by event id
        refund: dict[str, object] = {"order_id": draw(st.sampled_from(["e0", "e1", "e2", "e3"]))}
        if draw(st.booleans()):
            refund.update(amount=draw(st.sampled_from(["5", "100", "5000"])), currency="CNY")
        return kind, refund
    if kind is EventType.PROFILE:
        return kind, {draw(st.sampled_from(["name", "locale"])): draw(st.text(max_size=3))}
    return kind, {"channel": "phone", "direction": draw(st.sampled_from(["inbound", "outbound"]))}


@st.composite
def histories(draw: st.DrawFn) -> list[DomainEvent]:
    specs = draw(st.lists(st.tuples(moments, payloads()), min_size=1, max_size=25))
    return [
        DomainEvent(f"e{i}", kind, CUSTOMER, when, data)
        for i, (when, (kind, data)) in enumerate(specs)
    ]


@st.composite
def deliveries(draw: st.DrawFn, events: list[DomainEvent]) -> list[DomainEvent]:
    """The same events as an upstream might deliver them: shuffled, some repeatedly."""
    repeats = draw(st.lists(st.sampled_from(events), max_size=len(events)))
    return draw(st.permutations(events + repeats))


def in_event_time_order(events: list[DomainEvent]) -> CustomerFacts:
    ordered = sorted(events, key=lambda e: (e.occurred_at, e.event_id))
    return apply_all(CustomerFacts(CUSTOMER), ordered)


def observable(state: LifecycleState) -> tuple[object, ...]:
    return (state.stage, state.stage_since, state.flags, state.tier, state.lifecycle_pattern)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rules=RULES, offset=st.integers(min_value=-10, max_value=1000))
def test_any_order_and_duplication_gives_the_same_facts_and_state(data, rules, offset):
    events = data.draw(histories())
    delivered = data.draw(deliveries(events))
    # part of the stream is stored and reloaded in between, as the service does
    cut = data.draw(st.integers(min_value=0, max_value=len(delivered)))
    stored = apply_all(CustomerFacts(CUSTOMER), delivered[:cut]).to_json()
    facts = apply_all(CustomerFacts.from_json(stored), delivered[cut:])

    expected = in_event_time_order(events)
    assert facts == expected
    assert facts.to_json() == expected.to_json()
    now = T0 + timedelta(days=offset)
    assert derive(facts, rules, now) == derive(expected, rules, now)


@settings(max_examples=600, deadline=None)
@given(events=histories(), rules=RULES, earlier=st.integers(0, 900), later=st.integers(0, 900))
def test_the_history_up_to_a_moment_never_depends_on_what_came_after(events, rules, earlier, later):
    earlier, later = sorted((earlier, later))
    facts = in_event_time_order(events)
    first = derive(facts, rules, T0 + timedelta(days=earlier, hours=7))
    second = derive(facts, rules, T0 + timedelta(days=later, hours=7))
    assert first.history == tuple(t for t in second.history if t.occurred_at <= first.as_of)
    assert [t.occurred_at for t in second.history] == sorted(t.occurred_at for t in second.history)
    assert len({t.id for t in second.history}) == len(second.history)


@settings(max_examples=600, deadline=None)
@given(events=histories(), rules=RULES, offset=st.integers(0, 800))
def test_next_due_is_exactly_when_the_state_next_changes(events, rules, offset):
    facts = in_event_time_order(events)
    now = T0 + timedelta(days=offset, hours=7)
    state = derive(facts, rules, now)
    due = state.next_due_at
    if due is None:
        assert observable(derive(facts, rules, now + timedelta(days=3000))) == observable(state)
        return
    assert due > now
    assert observable(derive(facts, rules, due - timedelta(microseconds=1))) == observable(state)
    if not any(e.occurred_at == due for e in events):
        assert observable(derive(facts, rules, due)) != observable(state)


@settings(max_examples=300, deadline=None)
@given(events=histories())
def test_reapplying_every_event_is_a_no_op(events):
    facts = in_event_time_order(events)
    for event in events:
        assert apply(facts, event) == facts
