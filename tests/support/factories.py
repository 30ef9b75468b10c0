"""Builders of contract-shaped event payloads for tests."""

import uuid
from datetime import UTC, datetime
from typing import Any


def new_customer(prefix: str = "cust") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _event(
    kind: str, customer_id: str, at: datetime | str | None, data: dict[str, Any], **kw: Any
) -> dict[str, Any]:
    moment = at or datetime.now(UTC)
    return {
        "event_id": kw.pop("event_id", None) or f"evt-{uuid.uuid4().hex}",
        "type": kind,
        "customer_id": customer_id,
        "occurred_at": moment if isinstance(moment, str) else moment.isoformat(),
        "source": kw.pop("source", "tests"),
        "data": data,
    }


def purchase(
    customer_id: str, at: datetime | str | None = None, amount: str = "100.00", **kw: Any
) -> dict[str, Any]:
    data = {
        "order_id": kw.pop("order_id", f"ord-{uuid.uuid4().hex[:8]}"),
        "amount": amount,
        "currency": "CNY",
    }
    data.update(kw.pop("data", {}))
    return _event("purchase", customer_id, at, data, **kw)


def contact(customer_id: str, at: datetime | str | None = None, **kw: Any) -> dict[str, Any]:
    return _event("contact", customer_id, at, {"channel": "phone", "direction": "inbound"}, **kw)


def complaint(
    customer_id: str,
    at: datetime | str | None = None,
    status: str = "opened",
    ticket_id: str = "t-1",
    **kw: Any,
) -> dict[str, Any]:
    data = {"ticket_id": ticket_id, "severity": "high", "status": status}
    return _event("complaint", customer_id, at, data, **kw)


def profile(customer_id: str, at: datetime | str | None = None, **data: Any) -> dict[str, Any]:
    return _event("profile", customer_id, at, data or {"name": "Test", "locale": "en"})
