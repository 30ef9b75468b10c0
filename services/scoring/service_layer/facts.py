"""What one batch of customer events says about each customer, aggregated for set-based upserts.

Pure: events in, columns out. Several orders of one customer on one calendar day of the
business (CLM_BUSINESS_TIMEZONE) are one purchase occasion (amounts summed); the caller has
already dropped repeated event ids.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, cast

from shared.business_calendar import BusinessCalendar
from shared.events import (
    ComplaintEvent,
    ContactEvent,
    CustomerEvent,
    ProfileEvent,
    PurchaseEvent,
)


@dataclass
class _Occasion:
    amount: float
    orders: int
    first_at: datetime
    last_at: datetime


@dataclass
class _Complaint:
    opened_at: datetime | None = None
    resolved_at: datetime | None = None
    satisfaction: int | None = None
    satisfaction_at: datetime | None = None


@dataclass
class BatchFacts:
    first_seen: dict[str, datetime] = field(default_factory=dict)
    purchases: list[tuple[str, str, datetime, float]] = field(default_factory=list)
    occasions: dict[tuple[str, date], _Occasion] = field(default_factory=dict)
    complaints: dict[tuple[str, str], _Complaint] = field(default_factory=dict)
    contacts: list[tuple[str, str, datetime, bool]] = field(default_factory=list)
    acquisition_costs: dict[str, tuple[datetime, float]] = field(default_factory=dict)
    # The last event of each customer in the batch: the cause named on score updates.
    causes: dict[str, str] = field(default_factory=dict)

    @property
    def customer_ids(self) -> list[str]:
        return list(self.first_seen)

    def columns(self, kind: str) -> dict[str, list[Any]]:
        return getattr(self, f"_{kind}_columns")()

    def _customers_columns(self) -> dict[str, list[Any]]:
        ids = sorted(self.first_seen)  # one lock order for every writer
        costs = [self.acquisition_costs.get(c) for c in ids]
        return {
            "ids": ids,
            "seen": [self.first_seen[c] for c in ids],
            "cost": [c[1] if c else None for c in costs],
            "cost_at": [c[0] if c else None for c in costs],
        }

    def _purchases_columns(self) -> dict[str, list[Any]]:
        ids, events, times, amounts = (list(col) for col in zip(*self.purchases, strict=True))
        return {"ids": ids, "events": events, "times": times, "amounts": amounts}

    def _occasions_columns(self) -> dict[str, list[Any]]:
        keys = list(self.occasions)
        values = [self.occasions[k] for k in keys]
        return {
            "ids": [k[0] for k in keys],
            "days": [k[1] for k in keys],
            "amounts": [v.amount for v in values],
            "orders": [v.orders for v in values],
            "first_at": [v.first_at for v in values],
            "last_at": [v.last_at for v in values],
        }

    def _complaints_columns(self) -> dict[str, list[Any]]:
        keys = list(self.complaints)
        values = [self.complaints[k] for k in keys]
        return {
            "ids": [k[0] for k in keys],
            "tickets": [k[1] for k in keys],
            "opened": [v.opened_at for v in values],
            "resolved": [v.resolved_at for v in values],
            "satisfaction": [v.satisfaction for v in values],
            "satisfaction_at": [v.satisfaction_at for v in values],
        }

    def _contacts_columns(self) -> dict[str, list[Any]]:
        ids, events, times, inbound = (list(col) for col in zip(*self.contacts, strict=True))
        return {"ids": ids, "events": events, "times": times, "inbound": inbound}


def _earliest(current: datetime | None, new: datetime) -> datetime:
    return new if current is None or new < current else current


def collect(events: Sequence[CustomerEvent], calendar: BusinessCalendar) -> BatchFacts:
    facts = BatchFacts()
    for event in events:
        customer = event.customer_id
        at = event.occurred_at.astimezone(UTC)
        facts.first_seen[customer] = _earliest(facts.first_seen.get(customer), at)
        facts.causes[customer] = event.event_id
        # Dispatch on the discriminator: isinstance on pydantic models goes through ABCMeta.
        kind = event.type
        if kind == "purchase":
            _purchase(facts, cast(PurchaseEvent, event), at, calendar.day(at))
        elif kind == "complaint":
            _complaint(facts, cast(ComplaintEvent, event), at)
        elif kind == "contact":
            inbound = cast(ContactEvent, event).data.direction == "inbound"
            facts.contacts.append((customer, event.event_id, at, inbound))
        elif kind == "profile":
            cost = cast(ProfileEvent, event).data.acquisition_cost
            known = facts.acquisition_costs.get(customer)
            if cost is not None and (known is None or at >= known[0]):
                facts.acquisition_costs[customer] = (at, float(cost))
    return facts


def _purchase(facts: BatchFacts, event: PurchaseEvent, at: datetime, day: date) -> None:
    amount = float(event.data.amount)
    facts.purchases.append((event.customer_id, event.event_id, at, amount))
    key = (event.customer_id, day)
    occasion = facts.occasions.get(key)
    if occasion is None:
        facts.occasions[key] = _Occasion(amount, 1, at, at)
    else:
        occasion.amount += amount
        occasion.orders += 1
        occasion.first_at = min(occasion.first_at, at)
        occasion.last_at = max(occasion.last_at, at)


def _complaint(facts: BatchFacts, event: ComplaintEvent, at: datetime) -> None:
    ticket = facts.complaints.setdefault((event.customer_id, event.data.ticket_id), _Complaint())
    if event.data.status == "resolved":
        ticket.resolved_at = max(ticket.resolved_at or at, at)
    else:
        ticket.opened_at = _earliest(ticket.opened_at, at)
    if event.data.satisfaction is not None and (
        ticket.satisfaction_at is None or at >= ticket.satisfaction_at
    ):
        ticket.satisfaction = event.data.satisfaction
        ticket.satisfaction_at = at
