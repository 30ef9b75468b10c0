"""A customer's event timeline, read back from the facts the lifecycle keeps (pure)."""

from decimal import Decimal

import pytest

from services.lifecycle.domain.event_timeline import (
    REDACTED,
    BadCursor,
    TimelineEntry,
    decode_cursor,
    encode_cursor,
    page,
    timeline,
)
from services.lifecycle.domain.facts import CustomerFacts, DomainEvent, EventType, apply_all
from tests.unit.lifecycle.story import Story, day


def _event(kind: EventType, when: float, event_id: str, **data: object) -> DomainEvent:
    return DomainEvent(event_id, kind, "cust-1", day(when), data)


def _facts(*events: DomainEvent) -> CustomerFacts:
    return apply_all(CustomerFacts("cust-1"), events)


def test_every_kept_event_is_on_the_timeline_in_event_time_order():
    story = Story()
    story.purchase(3, amount="12.50", category="shoes", event_id="p1")
    story.contact(1, event_id="c1")
    story.complaint(2, ticket_id="t-9", event_id="k1")
    entries = timeline(story.facts())
    assert [(e.event_id, e.type, e.occurred_at) for e in entries] == [
        ("c1", "contact", day(1)),
        ("k1", "complaint", day(2)),
        ("p1", "purchase", day(3)),
    ]
    assert entries[0].data == {"channel": "phone", "direction": "inbound"}
    assert entries[1].data == {"ticket_id": "t-9", "status": "opened", "severity": "high"}
    assert entries[2].data == {"amount": Decimal("12.50"), "category": "shoes", "order_id": "o-0"}


def test_a_resolution_is_its_own_entry_of_the_ticket():
    facts = _facts(
        _event(EventType.COMPLAINT, 1, "open", ticket_id="t", severity="low"),
        _event(EventType.COMPLAINT, 4, "close", ticket_id="t", status="resolved"),
    )
    assert [(e.event_id, e.data) for e in timeline(facts)] == [
        ("open", {"ticket_id": "t", "status": "opened", "severity": "low"}),
        ("close", {"ticket_id": "t", "status": "resolved"}),
    ]


def test_a_profile_event_shows_the_values_it_still_holds():
    facts = _facts(
        _event(EventType.PROFILE, 1, "pr1", name="Ann", email="a@x.io"),
        _event(EventType.PROFILE, 2, "pr2", email="ann@x.io"),
    )
    assert [(e.event_id, e.data) for e in timeline(facts)] == [
        ("pr1", {"name": "Ann"}),  # its e-mail was replaced by pr2's: only the latest is kept
        ("pr2", {"email": "ann@x.io"}),
    ]


def test_profile_values_are_redacted_when_personal_data_may_not_be_shown():
    facts = _facts(_event(EventType.PROFILE, 1, "pr1", name="Ann", locale="en"))
    [entry] = timeline(facts, show_personal_data=False)
    assert entry.data == {"locale": REDACTED, "name": REDACTED}
    assert entry.redacted


def test_refunds_are_on_the_timeline_and_score_readings_are_not():
    facts = _facts(
        _event(EventType.PURCHASE, 1, "p", order_id="o", amount="10"),
        _event(EventType.REFUND, 2, "r", order_id="o", amount="4"),
        _event(EventType.SCORE, 3, "s", churn_risk=0.4),
    )
    assert [(e.event_id, e.type) for e in timeline(facts)] == [
        ("p", "purchase"),
        ("r", "refund"),
    ]
    assert timeline(facts)[1].data == {"order_id": "o", "amount": Decimal("4")}


def _entries(n: int) -> list[TimelineEntry]:
    return [TimelineEntry(f"e{i}", "contact", day(i // 2), {}) for i in range(n)]


def test_pages_follow_each_other_without_gaps_or_repeats():
    entries = _entries(7)
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        items, cursor = page(entries, 3, decode_cursor(cursor) if cursor else None)
        seen += [e.event_id for e in items]
        if cursor is None:
            break
    assert seen == [e.event_id for e in entries]


def test_the_last_page_has_no_cursor():
    items, cursor = page(_entries(3), 3, None)
    assert len(items) == 3 and cursor is None


def test_a_cursor_round_trips_and_a_forged_one_is_refused():
    entry = _entries(1)[0]
    assert decode_cursor(encode_cursor(entry)) == (entry.occurred_at, entry.event_id)
    for bad in ("not-base64!", "bm90IGpzb24", encode_cursor(entry)[:-4]):
        with pytest.raises(BadCursor):
            decode_cursor(bad)
