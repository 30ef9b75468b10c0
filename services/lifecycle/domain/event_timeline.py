"""A customer's event timeline, read back from the facts the lifecycle keeps (no raw event
store exists: the topic is the log, the facts its per-customer summary).

What each entry shows is what the facts still hold of that event:
- purchase: amount (reporting currency, converted on arrival), category, order_id;
- refund: order_id, amount (None: the whole order);
- contact: channel, direction;
- complaint: the event that opened a ticket (ticket_id, status opened, severity if it set
  the current one), the one that resolved it, and the one that set its current severity;
  other events of a ticket merged into these leave no entry;
- profile: the fields whose current value the event set; values later replaced are gone.
Score readings (from clm.customer-scores.v1) are the platform's, not the customer's events.
Entries are ordered by (occurred_at, event_id); a cursor is the last entry's pair, opaque.
"""

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from services.lifecycle.domain.facts import CustomerFacts, EventType, Stamp
from services.lifecycle.domain.moments import iso, parse_utc

REDACTED = "[redacted]"
Position = tuple[datetime, str]


class BadCursor(ValueError):
    """A cursor this service did not issue."""


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    event_id: str
    type: str
    occurred_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    redacted: bool = False

    def position(self) -> Position:
        return (self.occurred_at, self.event_id)


def _complaint_entries(facts: CustomerFacts) -> list[TimelineEntry]:
    by_event: dict[Stamp, dict[str, Any]] = {}
    for ticket_id, ticket in facts.complaints.items():
        by_event.setdefault(ticket.opened, {"ticket_id": ticket_id, "status": "opened"})
        if ticket.resolved is not None:
            by_event[ticket.resolved] = {"ticket_id": ticket_id, "status": "resolved"}
        if ticket.severity_stamp is not None:
            data = by_event.setdefault(ticket.severity_stamp, {"ticket_id": ticket_id})
            data["severity"] = ticket.severity
    return [
        TimelineEntry(s.event_id, EventType.COMPLAINT.value, s.at, d) for s, d in by_event.items()
    ]


def _profile_entries(facts: CustomerFacts, show_personal_data: bool) -> list[TimelineEntry]:
    by_event: dict[Stamp, dict[str, Any]] = {}
    for name, value in sorted(facts.profile.items()):
        by_event.setdefault(value.stamp, {})[name] = value.value if show_personal_data else REDACTED
    return [
        TimelineEntry(s.event_id, EventType.PROFILE.value, s.at, d, not show_personal_data)
        for s, d in by_event.items()
    ]


def _without_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def timeline(facts: CustomerFacts, *, show_personal_data: bool = True) -> list[TimelineEntry]:
    """Every event the facts still tell of, oldest first; profile values shown only if allowed."""
    entries = [
        TimelineEntry(
            event_id,
            EventType.PURCHASE.value,
            p.occurred_at,
            _without_none({"amount": p.amount, "category": p.category, "order_id": p.order_id}),
        )
        for event_id, p in facts.purchases.items()
    ]
    entries += [
        TimelineEntry(
            event_id,
            EventType.REFUND.value,
            r.occurred_at,
            _without_none({"order_id": r.order_id, "amount": r.amount}),
        )
        for event_id, r in facts.refunds.items()
    ]
    entries += [
        TimelineEntry(
            event_id,
            EventType.CONTACT.value,
            c.occurred_at,
            _without_none({"channel": c.channel, "direction": c.direction}),
        )
        for event_id, c in facts.contacts.items()
    ]
    entries += _complaint_entries(facts)
    entries += _profile_entries(facts, show_personal_data)
    return sorted(entries, key=TimelineEntry.position)


def page(
    entries: Sequence[TimelineEntry], limit: int, after: Position | None
) -> tuple[list[TimelineEntry], str | None]:
    """Up to `limit` entries after `after`, and the cursor of the next page (None: the last)."""
    rest = [e for e in entries if after is None or e.position() > after]
    items = rest[:limit]
    return items, encode_cursor(items[-1]) if len(rest) > limit else None


def encode_cursor(entry: TimelineEntry) -> str:
    raw = orjson.dumps([iso(entry.occurred_at), entry.event_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, event_id = orjson.loads(raw)
        if not isinstance(at, str) or not isinstance(event_id, str):
            raise BadCursor("not a timeline cursor")
        return (parse_utc(at), event_id)
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError) as exc:
        raise BadCursor("not a cursor this endpoint issued") from exc
