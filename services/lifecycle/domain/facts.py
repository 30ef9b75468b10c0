"""What a customer's events tell, kept in an order-independent, idempotent form.

Every field is a join of the events seen so far (a minimum, a last-writer-wins
register, or a map keyed by event or ticket id), so applying the same set of
events in any order, with any duplicates, gives equal facts.

Orders: every purchase event is kept as a version of its order (`order_id`, per customer);
`orders()` reads one purchase per order from the versions and the refunds (see `Order`).
Amounts are in the reporting currency: the caller converts them before `apply`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from services.lifecycle.domain.moments import iso, parse_utc

FACTS_FORMAT_VERSION = 1


class EventType(StrEnum):
    PURCHASE = "purchase"
    CONTACT = "contact"
    COMPLAINT = "complaint"
    PROFILE = "profile"
    REFUND = "refund"
    SCORE = "score"


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """A customer event as the lifecycle domain needs it; `score` carries `churn_risk`."""

    event_id: str
    type: EventType
    customer_id: str
    occurred_at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        at = self.occurred_at
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("occurred_at must be timezone-aware")
        event_type = _EVENT_TYPES.get(self.type)  # a dict lookup: calling the enum costs more
        if event_type is None:
            raise ValueError(f"{self.type!r} is not a valid EventType")
        object.__setattr__(self, "type", event_type)
        object.__setattr__(self, "occurred_at", at.astimezone(UTC))


_EVENT_TYPES: dict[object, EventType] = {t.value: t for t in EventType}


@dataclass(frozen=True, slots=True)
class Purchase:
    """One version of an order (one purchase event); `order_id` None: the event is the order."""

    occurred_at: datetime
    amount: Decimal
    category: str | None
    order_id: str | None = None

    def sort_key(self) -> tuple[datetime, Decimal, str, str]:
        return (self.occurred_at, self.amount, self.category or "", self.order_id or "")


@dataclass(frozen=True, slots=True)
class Refund:
    """A refund, return or cancellation of `order_id`; `amount` None refunds all of it."""

    occurred_at: datetime
    order_id: str
    amount: Decimal | None

    def sort_key(self) -> tuple[datetime, str, bool, Decimal]:
        return (self.occurred_at, self.order_id, self.amount is None, self.amount or _ZERO)


@dataclass(frozen=True, slots=True)
class Order:
    """One order as it counts: placed by its earliest version (time and event id, which
    stay put when the order is resent or updated), for the amount of its latest version
    (latest `occurred_at`, ties to the greater event id) less its partial refunds. An order
    with a full refund, or refunded down to nothing, does not count at all."""

    order_id: str
    placed_at: datetime
    placed_by: str
    amount: Decimal
    category: str | None


@dataclass(frozen=True, slots=True)
class Contact:
    occurred_at: datetime
    channel: str | None
    direction: str | None

    def sort_key(self) -> tuple[datetime, str, str]:
        return (self.occurred_at, self.channel or "", self.direction or "")


@dataclass(frozen=True, slots=True)
class Stamp:
    """An event's time and id: ordered by time, ties broken by id."""

    at: datetime
    event_id: str

    def key(self) -> tuple[datetime, str]:
        return (self.at, self.event_id)


@dataclass(frozen=True, slots=True)
class Ticket:
    opened: Stamp
    resolved: Stamp | None = None
    severity: str | None = None
    severity_stamp: Stamp | None = None

    def merge(self, other: Ticket) -> Ticket:
        opened = min(self.opened, other.opened, key=Stamp.key)
        resolved_candidates = [s for s in (self.resolved, other.resolved) if s is not None]
        resolved = min(resolved_candidates, key=Stamp.key) if resolved_candidates else None
        severity, severity_stamp = self.severity, self.severity_stamp
        if other.severity_stamp is not None and (
            severity_stamp is None or other.severity_stamp.key() > severity_stamp.key()
        ):
            severity, severity_stamp = other.severity, other.severity_stamp
        return Ticket(opened, resolved, severity, severity_stamp)


@dataclass(frozen=True, slots=True)
class ProfileValue:
    stamp: Stamp
    value: Any


@dataclass(frozen=True, slots=True)
class ChurnRiskReading:
    as_of: datetime
    churn_risk: float


@dataclass(frozen=True, slots=True)
class PurchaseOccasion:
    """All of one customer's orders on one UTC calendar day."""

    day: date
    first_at: datetime
    last_at: datetime
    amount: Decimal
    categories: frozenset[str]
    event_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    """Immutable; `apply` returns a new value and never mutates its input."""

    customer_id: str
    first_seen: Stamp | None = None
    purchases: Mapping[str, Purchase] = field(default_factory=dict)
    contacts: Mapping[str, Contact] = field(default_factory=dict)
    complaints: Mapping[str, Ticket] = field(default_factory=dict)
    profile: Mapping[str, ProfileValue] = field(default_factory=dict)
    scores: Mapping[str, ChurnRiskReading] = field(default_factory=dict)
    refunds: Mapping[str, Refund] = field(default_factory=dict)

    @property
    def first_seen_at(self) -> datetime | None:
        return self.first_seen.at if self.first_seen else None

    def orders(self) -> list[Order]:
        """The orders that count, by order id (see `Order`)."""
        if not self.refunds and all(p.order_id is None for p in self.purchases.values()):
            return [  # every event its own order, none refunded: the common case, kept cheap
                Order(event_id, p.occurred_at, event_id, p.amount, p.category)
                for event_id, p in self.purchases.items()
            ]
        versions: dict[str, list[tuple[datetime, str, Purchase]]] = {}
        for event_id, purchase in self.purchases.items():
            order_id = purchase.order_id or event_id
            versions.setdefault(order_id, []).append((purchase.occurred_at, event_id, purchase))
        refunded: dict[str, Decimal | None] = {}
        for refund in self.refunds.values():
            if refund.order_id in refunded and refunded[refund.order_id] is None:
                continue
            so_far = refunded.get(refund.order_id, _ZERO)
            refunded[refund.order_id] = (
                None if refund.amount is None or so_far is None else so_far + refund.amount
            )
        orders = []
        for order_id, kept in versions.items():
            placed_at, placed_by, _ = min(kept, key=_version_key)
            latest = max(kept, key=_version_key)[2]
            amount = latest.amount
            if order_id in refunded:
                taken = refunded[order_id]
                if taken is None or taken >= amount:
                    continue  # refunded in full: no longer a purchase
                amount -= taken
            orders.append(Order(order_id, placed_at, placed_by, amount, latest.category))
        return orders

    def occasions(self) -> list[PurchaseOccasion]:
        by_day: dict[date, list[Order]] = {}
        for order in self.orders():
            by_day.setdefault(order.placed_at.date(), []).append(order)
        occasions = []
        for day in sorted(by_day):
            orders = by_day[day]
            times = [o.placed_at for o in orders]
            occasions.append(
                PurchaseOccasion(
                    day=day,
                    first_at=min(times),
                    last_at=max(times),
                    amount=sum((o.amount for o in orders), Decimal(0)),
                    categories=frozenset(o.category for o in orders if o.category),
                    event_ids=frozenset(o.placed_by for o in orders),
                )
            )
        return occasions

    def to_json(self) -> dict[str, Any]:
        return {
            "v": FACTS_FORMAT_VERSION,
            "customer_id": self.customer_id,
            "first_seen": _stamp_json(self.first_seen),
            "purchases": {
                k: [_ts(p.occurred_at), str(p.amount), p.category]
                + ([] if p.order_id is None else [p.order_id])
                for k, p in sorted(self.purchases.items())
            },
            "contacts": {
                k: [_ts(c.occurred_at), c.channel, c.direction]
                for k, c in sorted(self.contacts.items())
            },
            "complaints": {
                k: {
                    "opened": _stamp_json(t.opened),
                    "resolved": _stamp_json(t.resolved),
                    "severity": t.severity,
                    "severity_stamp": _stamp_json(t.severity_stamp),
                }
                for k, t in sorted(self.complaints.items())
            },
            "profile": {
                k: [_ts(v.stamp.at), v.stamp.event_id, v.value]
                for k, v in sorted(self.profile.items())
            },
            "scores": {k: [_ts(s.as_of), s.churn_risk] for k, s in sorted(self.scores.items())},
            "refunds": {
                k: [_ts(r.occurred_at), r.order_id, None if r.amount is None else str(r.amount)]
                for k, r in sorted(self.refunds.items())
            },
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> CustomerFacts:
        if raw.get("v") != FACTS_FORMAT_VERSION:
            raise ValueError(f"unsupported facts format version: {raw.get('v')!r}")
        return cls(
            customer_id=raw["customer_id"],
            first_seen=_stamp_from(raw.get("first_seen")),
            purchases={
                k: Purchase(_parse_ts(p[0]), Decimal(p[1]), p[2], p[3] if len(p) > 3 else None)
                for k, p in raw.get("purchases", {}).items()
            },
            contacts={
                k: Contact(_parse_ts(ts), channel, direction)
                for k, (ts, channel, direction) in raw.get("contacts", {}).items()
            },
            complaints={
                k: Ticket(
                    opened=_required_stamp(t["opened"]),
                    resolved=_stamp_from(t.get("resolved")),
                    severity=t.get("severity"),
                    severity_stamp=_stamp_from(t.get("severity_stamp")),
                )
                for k, t in raw.get("complaints", {}).items()
            },
            profile={
                k: ProfileValue(Stamp(_parse_ts(ts), event_id), value)
                for k, (ts, event_id, value) in raw.get("profile", {}).items()
            },
            scores={
                k: ChurnRiskReading(_parse_ts(ts), float(value))
                for k, (ts, value) in raw.get("scores", {}).items()
            },
            refunds={
                k: Refund(_parse_ts(ts), order_id, None if amount is None else Decimal(amount))
                for k, (ts, order_id, amount) in raw.get("refunds", {}).items()
            },
        )


def apply(facts: CustomerFacts, event: DomainEvent) -> CustomerFacts:
    """Return the facts with `event` joined in; re-applying an event changes nothing."""
    if event.customer_id != facts.customer_id:
        raise ValueError(
            f"event {event.event_id} is for customer {event.customer_id}, not {facts.customer_id}"
        )
    stamp = Stamp(event.occurred_at, event.event_id)
    first_seen = facts.first_seen
    if event.type is not EventType.SCORE and (first_seen is None or stamp.key() < first_seen.key()):
        first_seen = stamp
    purchases, contacts, complaints = facts.purchases, facts.contacts, facts.complaints
    profile, scores, refunds = facts.profile, facts.scores, facts.refunds
    match event.type:
        case EventType.PURCHASE:
            purchases = _with_max(purchases, event.event_id, _purchase_of(event))
        case EventType.CONTACT:
            contact = Contact(
                event.occurred_at, event.data.get("channel"), event.data.get("direction")
            )
            contacts = _with_max(contacts, event.event_id, contact)
        case EventType.COMPLAINT:
            complaints = _with_ticket(complaints, event, stamp)
        case EventType.PROFILE:
            profile = _with_profile(profile, event.data, stamp)
        case EventType.REFUND:
            refunds = _with_max(refunds, event.event_id, _refund_of(event))
        case EventType.SCORE:
            reading = ChurnRiskReading(event.occurred_at, _churn_risk_of(event))
            scores = dict(scores)
            existing = scores.get(event.event_id)
            if existing is None or reading.churn_risk > existing.churn_risk:
                scores[event.event_id] = reading
    # The constructor, not dataclasses.replace: this runs for every event.
    return CustomerFacts(
        facts.customer_id, first_seen, purchases, contacts, complaints, profile, scores, refunds
    )


def order_keys(facts: CustomerFacts) -> frozenset[str]:
    """The orders the facts know of: purchased (by order id, else event id) or refunded."""
    keys = {p.order_id or event_id for event_id, p in facts.purchases.items()}
    keys.update(refund.order_id for refund in facts.refunds.values())
    return frozenset(keys)


def apply_all(facts: CustomerFacts, events: Iterable[DomainEvent]) -> CustomerFacts:
    for event in events:
        facts = apply(facts, event)
    return facts


def _purchase_of(event: DomainEvent) -> Purchase:
    amount = _amount_of(event, event.data.get("amount", "0"))
    category, order_id = event.data.get("category"), event.data.get("order_id")
    return Purchase(
        event.occurred_at,
        amount,
        str(category) if category else None,
        str(order_id) if order_id else None,
    )


def _refund_of(event: DomainEvent) -> Refund:
    order_id = event.data.get("order_id")
    if not order_id:
        raise ValueError(f"refund {event.event_id}: order_id is required")
    raw = event.data.get("amount")
    amount = None if raw is None else _amount_of(event, raw)
    return Refund(event.occurred_at, str(order_id), amount)


def _amount_of(event: DomainEvent, raw: Any) -> Decimal:
    try:
        amount = Decimal(str(raw))
    except InvalidOperation as exc:
        raise ValueError(f"{event.type} {event.event_id}: amount is not a number") from exc
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{event.type} {event.event_id}: amount must be a finite number >= 0")
    return amount


def _version_key(version: tuple[datetime, str, Purchase]) -> tuple[datetime, str]:
    return version[0], version[1]


_ZERO = Decimal(0)


def _churn_risk_of(event: DomainEvent) -> float:
    try:
        value = float(event.data["churn_risk"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"score {event.event_id}: churn_risk must be a number") from exc
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"score {event.event_id}: churn_risk must be within [0, 1]")
    return value


def _with_max(records: Mapping[str, Any], key: str, record: Any) -> dict[str, Any]:
    # Two different payloads under one event id should not happen; keep the larger one so
    # that even then the result does not depend on arrival order.
    merged = dict(records)
    existing = merged.get(key)
    if existing is None or record.sort_key() > existing.sort_key():
        merged[key] = record
    return merged


def _with_ticket(
    tickets: Mapping[str, Ticket], event: DomainEvent, stamp: Stamp
) -> dict[str, Ticket]:
    ticket_id = str(event.data.get("ticket_id") or event.event_id)
    severity = event.data.get("severity")
    incoming = Ticket(
        opened=stamp,
        resolved=stamp if event.data.get("status") == "resolved" else None,
        severity=str(severity) if severity else None,
        severity_stamp=stamp if severity else None,
    )
    merged = dict(tickets)
    existing = merged.get(ticket_id)
    merged[ticket_id] = incoming if existing is None else existing.merge(incoming)
    return merged


def _with_profile(
    profile: Mapping[str, ProfileValue], data: Mapping[str, Any], stamp: Stamp
) -> dict[str, ProfileValue]:
    merged = dict(profile)
    for name, value in data.items():
        existing = merged.get(name)
        if existing is None or stamp.key() > existing.stamp.key():
            merged[name] = ProfileValue(stamp, value)
    return merged


_ts = iso
_parse_ts = parse_utc


def _stamp_json(stamp: Stamp | None) -> list[str] | None:
    return None if stamp is None else [_ts(stamp.at), stamp.event_id]


def _stamp_from(raw: list[str] | None) -> Stamp | None:
    return None if raw is None else Stamp(_parse_ts(raw[0]), raw[1])


def _required_stamp(raw: list[str]) -> Stamp:
    return Stamp(_parse_ts(raw[0]), raw[1])
