"""How a fact row of `lifecycle_facts` is kept: the event as the domain read it, as JSON text."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from services.lifecycle.domain.facts import DomainEvent
from services.lifecycle.domain.moments import iso, parse_utc


def event_to_text(event: DomainEvent) -> str:
    document = {
        "id": event.event_id,
        "type": event.type.value,
        "at": iso(event.occurred_at),
        "data": dict(event.data),
    }
    return orjson.dumps(document, default=_plain).decode()


def event_from_text(customer_id: str, text: str) -> DomainEvent:
    raw = orjson.loads(text)
    return DomainEvent(raw["id"], raw["type"], customer_id, parse_utc(raw["at"]), raw["data"])


def _plain(value: Any) -> str:
    if isinstance(value, Decimal):  # amounts stay exact: the domain reads them as text
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
