"""What one batch of customer events says about each customer, aggregated for set-based upserts.

Pure: events in, columns out; the caller has already dropped repeated event ids. Amounts are
converted to the reporting currency at the rate of the event's day. Purchases are kept as
versions of their order and refunds as they came: the store derives one purchase per order
from them (its latest version less its refunds; none after a full refund), and the occasions
(one per customer and calendar day of the business, CLM_BUSINESS_TIMEZONE, amounts summed) from those.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from shared.events import (
    ComplaintEvent,
    ContactEvent,
    CustomerEvent,
    ProfileEvent,
    PurchaseEvent,
    RefundEvent,
)
from shared.money import ExchangeRates, event_day, to_reporting


@dataclass
class _Complaint:
    opened_at: datetime | None = None
    resolved_at: datetime | None = None
    satisfaction: int | None = None
    satisfaction_at: datetime | None = None
    nps: int | None = None
    nps_at: datetime | None = None


@dataclass
class BatchFacts:
    first_seen: dict[str, datetime] = field(default_factory=dict)
    # (customer, event id, order id, occurred_at, amount in the reporting currency)
    purchases: list[tuple[str, str, str, datetime, float]] = field(default_factory=list)
    # (customer, event id, order id, occurred_at, amount or None for a full refund)
    refunds: list[tuple[str, str, str, datetime, float | None]] = field(default_factory=list)
    complaints: dict[tuple[str, str], _Complaint] = field(default_factory=dict)
    contacts: list[tuple[str, str, datetime, bool, int | None]] = field(default_factory=list)
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

    @property
    def ordering_customers(self) -> list[str]:
        """Customers whose orders this batch changes (a purchase or a refund)."""
        return sorted({row[0] for row in self.purchases} | {row[0] for row in self.refunds})

    def _purchases_columns(self) -> dict[str, list[Any]]:
        return _columns(self.purchases)

    def _refunds_columns(self) -> dict[str, list[Any]]:
        return _columns(self.refunds)

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
            "nps": [v.nps for v in values],
            "nps_at": [v.nps_at for v in values],
        }

    def _contacts_columns(self) -> dict[str, list[Any]]:
        ids, events, times, inbound, nps = (list(c) for c in zip(*self.contacts, strict=True))
        return {"ids": ids, "events": events, "times": times, "inbound": inbound, "nps": nps}


def _columns(rows: list[tuple[Any, ...]]) -> dict[str, list[Any]]:
    ids, events, orders, times, amounts = (list(col) for col in zip(*rows, strict=True))
    return {"ids": ids, "events": events, "orders": orders, "times": times, "amounts": amounts}


def convertible(
    events: Sequence[CustomerEvent], rates: ExchangeRates
) -> tuple[list[CustomerEvent], set[str]]:
    """The events whose money converts, and the ids of those whose currency has no rate by
    their day."""
    kept, refused = [], set()
    for event in events:
        currency = getattr(event.data, "currency", None)
        if currency and not rates.can_convert(currency, event_day(event.occurred_at)):
            refused.add(event.event_id)
        else:
            kept.append(event)
    return kept, refused


def _earliest(current: datetime | None, new: datetime) -> datetime:
    return new if current is None or new < current else current


def collect(events: Sequence[CustomerEvent], rates: ExchangeRates) -> BatchFacts:
    facts = BatchFacts()
    for event in events:
        customer = event.customer_id
        at = event.occurred_at.astimezone(UTC)
        facts.first_seen[customer] = _earliest(facts.first_seen.get(customer), at)
        facts.causes[customer] = event.event_id
        # Dispatch on the discriminator: isinstance on pydantic models goes through ABCMeta.
        kind = event.type
        if kind == "purchase":
            purchase = cast(PurchaseEvent, event)
            amount = to_reporting(purchase.data.amount, purchase.data.currency, at, rates)
            facts.purchases.append(
                (customer, event.event_id, purchase.data.order_id, at, float(amount))
            )
        elif kind == "refund":
            data = cast(RefundEvent, event).data
            refunded = None
            if data.amount is not None and data.currency is not None:
                refunded = float(to_reporting(data.amount, data.currency, at, rates))
            facts.refunds.append((customer, event.event_id, data.order_id, at, refunded))
        elif kind == "complaint":
            _complaint(facts, cast(ComplaintEvent, event), at)
        elif kind == "contact":
            contact = cast(ContactEvent, event).data
            inbound = contact.direction == "inbound"
            facts.contacts.append((customer, event.event_id, at, inbound, contact.nps))
        elif kind == "profile":
            cost = cast(ProfileEvent, event).data.acquisition_cost
            known = facts.acquisition_costs.get(customer)
            if cost is not None and (known is None or at >= known[0]):
                facts.acquisition_costs[customer] = (at, float(cost))
    return facts


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
    if event.data.nps is not None and (ticket.nps_at is None or at >= ticket.nps_at):
        ticket.nps = event.data.nps
        ticket.nps_at = at
