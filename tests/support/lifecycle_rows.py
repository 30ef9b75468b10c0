"""Stored lifecycle customers written straight into the table, for tests of readers of it."""

from datetime import datetime
from typing import Any

import orjson

from services.lifecycle.domain import CustomerFacts, DomainEvent, EventType, apply


def purchase_event(customer_id: str, n: int, at: datetime) -> DomainEvent:
    data = {"order_id": f"o{n}", "amount": "50", "currency": "CNY"}
    return DomainEvent(f"{customer_id}-p{n}", EventType.PURCHASE, customer_id, at, data)


def bought_once_row(customer_id: str, bought: datetime) -> dict[str, Any]:
    """A `lifecycle_customers` row as derived at `bought`, right after the customer's one
    purchase (of 50 CNY): in development; never due."""
    facts = apply(CustomerFacts(customer_id), purchase_event(customer_id, 1, bought))
    return {
        "customer_id": customer_id, "stage": "development", "stage_since": bought, "flags": [],
        "tier": "C", "reactivations": 0, "first_seen_at": bought, "first_purchase_at": bought,
        "last_purchase_at": bought, "purchase_occasions": 1, "total_spend": 50,
        "trailing_spend": 50, "facts": orjson.dumps(facts.to_json()).decode(), "history": "",
        "as_of": bought, "next_due_at": None,
    }  # fmt: skip
