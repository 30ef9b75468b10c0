import json
from datetime import datetime
from decimal import Decimal

import pytest

from services.lifecycle.domain.facts import (
    CustomerFacts,
    DomainEvent,
    EventType,
    apply,
    apply_all,
)
from tests.unit.lifecycle.story import Story, day


def test_applying_an_event_twice_changes_nothing():
    story = Story()
    event = story.purchase(0, amount="10.50")
    once = apply(CustomerFacts(story.customer_id), event)
    assert apply(once, event) == once


def test_apply_returns_new_facts_and_leaves_the_input_alone():
    story = Story()
    event = story.purchase(0)
    empty = CustomerFacts(story.customer_id)
    apply(empty, event)
    assert empty == CustomerFacts(story.customer_id)


def test_first_seen_is_the_earliest_non_score_event():
    story = Story()
    story.score(-5, 0.2)
    story.purchase(3)
    story.contact(1, event_id="hello")
    facts = story.facts()
    assert facts.first_seen_at == day(1)
    assert facts.first_seen is not None and facts.first_seen.event_id == "hello"


def test_occasions_group_orders_by_utc_day():
    story = Story()
    story.purchase(0, amount="10", category="a")
    story.purchase(0.5, amount="5", category="b")
    story.purchase(2, amount="1")
    occasions = story.facts().occasions()
    assert [o.amount for o in occasions] == [Decimal(15), Decimal(1)]
    assert occasions[0].categories == {"a", "b"}
    assert occasions[0].first_at == day(0) and occasions[0].last_at == day(0.5)


def test_a_ticket_merges_its_events_in_any_order():
    story = Story()
    opened = story.complaint(1, ticket_id="T")
    resolved = DomainEvent(
        "r",
        EventType.COMPLAINT,
        story.customer_id,
        day(3),
        {"ticket_id": "T", "status": "resolved", "severity": "low"},
    )
    base = CustomerFacts(story.customer_id)
    one = apply_all(base, [opened, resolved])
    other = apply_all(base, [resolved, opened, resolved])
    assert one == other
    ticket = one.complaints["T"]
    assert ticket.opened.at == day(1)
    assert ticket.resolved is not None and ticket.resolved.at == day(3)
    assert ticket.severity == "low"


def test_profile_fields_keep_their_latest_value():
    base = CustomerFacts("c")
    newer = DomainEvent("p2", "profile", "c", day(2), {"name": "Li Lei"})  # type: ignore[arg-type]
    older = DomainEvent("p1", "profile", "c", day(1), {"name": "L.", "locale": "zh-CN"})  # type: ignore[arg-type]
    facts = apply_all(base, [newer, older])
    assert facts.profile["name"].value == "Li Lei"
    assert facts.profile["locale"].value == "zh-CN"
    assert facts == apply_all(base, [older, newer])


def test_json_round_trip_is_compact_and_exact():
    story = Story()
    story.contact(0)
    story.purchase(1, amount="12.30", category="x")
    story.complaint(2)
    story.score(3, 0.42)
    facts = apply(
        story.facts(),
        DomainEvent("p", EventType.PROFILE, story.customer_id, day(4), {"consent": {"sms": True}}),
    )
    raw = facts.to_json()
    text = json.dumps(raw)
    assert CustomerFacts.from_json(json.loads(text)) == facts
    assert raw["purchases"]["purchase-2"][1] == "12.30"


def test_events_are_checked():
    with pytest.raises(ValueError, match="timezone"):
        DomainEvent("e", EventType.CONTACT, "c", datetime(2024, 1, 1), {})
    facts = CustomerFacts("c")
    with pytest.raises(ValueError, match="customer"):
        apply(facts, DomainEvent("e", EventType.CONTACT, "other", day(0), {}))
    with pytest.raises(ValueError, match="amount"):
        apply(facts, DomainEvent("e", EventType.PURCHASE, "c", day(0), {"amount": "-1"}))
    with pytest.raises(ValueError, match="churn_risk"):
        apply(facts, DomainEvent("e", EventType.SCORE, "c", day(0), {"churn_risk": 2}))
    with pytest.raises(ValueError, match="version"):
        CustomerFacts.from_json({"v": 99, "customer_id": "c"})
