"""Right of access: everything the platform holds on one customer, read in one snapshot.

All services share one database, so the lifecycle service reads the scoring, notify and
audiences tables directly, in one REPEATABLE READ transaction: every section is
as of the same instant. Each table erasure clears is exported (`EXPORTED_AS` names where),
so what can be erased and what is shown to the customer cannot drift apart.
"""

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.lifecycle.domain import CustomerFacts
from services.lifecycle.domain.event_timeline import timeline
from services.lifecycle.domain.transitions import parse_history_text

from .state_store import stored_facts
from .tables import customers

# Each table holding rows of a customer, and the export section that carries them.
EXPORTED_AS: Mapping[str, str] = {
    "lifecycle_customers": "state, profile, events",
    "lifecycle_transitions": "history",  # the same changes as the row's history document
    "lifecycle_contact_keys": "profile",
    "lifecycle_facts": "profile, events",  # the facts that came after the row's document
    "scoring_customers": "scoring.scores",
    "scoring_occasions": "scoring.occasions",
    "scoring_purchases": "scoring.purchases",
    "scoring_order_versions": "scoring.order_versions",
    "scoring_refunds": "scoring.refunds",
    "scoring_contacts": "scoring.contacts",
    "scoring_complaints": "scoring.complaints",
    "notify_customers": "notify.customer",
    "notify_messages": "notify.messages",
    "notify_outcomes": "notify.outcomes",  # what a playbook's impact counted of the customer
    "audience_customers": "audiences.customer",  # the view segments are evaluated over
    "audience_members": "audiences.memberships",
}
_SCORING_LISTS = ("occasions", "purchases", "order_versions", "refunds", "contacts", "complaints")
_STATE_EXCLUDED = {"facts", "checkpoint", "history", "updated_at"}  # exported in their own form


def plain(value: Any) -> Any:
    """A stored value as JSON reads it: money as a decimal string, times as RFC 3339."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _rows(result: Any) -> list[dict[str, Any]]:
    return [plain(row._asdict()) for row in result]


async def _all_of(conn: AsyncConnection, table: str, customer_id: str, order: str) -> list[Any]:
    # `table` and `order` come from the constants above, never from input.
    statement = sa.text(f"SELECT * FROM {table} WHERE customer_id = :id ORDER BY {order}")
    return _rows(await conn.execute(statement, {"id": customer_id}))


async def _one_of(conn: AsyncConnection, table: str, customer_id: str) -> dict[str, Any] | None:
    rows = await _all_of(conn, table, customer_id, "customer_id")
    return rows[0] if rows else None


def _profile(facts: CustomerFacts) -> dict[str, Any]:
    return {
        name: {"value": v.value, "set_at": v.stamp.at.isoformat(), "event_id": v.stamp.event_id}
        for name, v in sorted(facts.profile.items())
    }


async def read_export(
    conn: AsyncConnection, customer_id: str, currency: str
) -> dict[str, Any] | None:
    """The customer's data in every service; None when no service holds any of it."""
    row = (
        await conn.execute(sa.select(customers).where(customers.c.customer_id == customer_id))
    ).first()
    scoring: dict[str, Any] = {"scores": await _one_of(conn, "scoring_customers", customer_id)}
    for name in _SCORING_LISTS:
        scoring[name] = await _all_of(conn, f"scoring_{name}", customer_id, "2")
    notify = {
        "customer": await _one_of(conn, "notify_customers", customer_id),
        "messages": await _all_of(conn, "notify_messages", customer_id, "created_at, id"),
        "outcomes": await _all_of(conn, "notify_outcomes", customer_id, "occurred_at, event_id"),
    }
    audiences = {
        "customer": await _one_of(conn, "audience_customers", customer_id),
        "memberships": await _all_of(conn, "audience_members", customer_id, "entered_at, segment"),
    }
    held_elsewhere = (
        scoring["scores"] or notify["customer"] or notify["messages"] or audiences["customer"]
    )
    if row is None and not held_elsewhere and not any(scoring[n] for n in _SCORING_LISTS):
        return None
    state = history = events = None
    profile: dict[str, Any] = {}
    if row is not None:
        facts = await stored_facts(conn, customer_id, row.facts)
        profile = _profile(facts)
        values = row._asdict()
        state = plain({k: v for k, v in values.items() if k not in _STATE_EXCLUDED})
        history = plain(parse_history_text(row.history))
        events = [
            plain({"event_id": e.event_id, "type": e.type, "occurred_at": e.occurred_at,
                   "data": e.data})
            for e in timeline(facts)
        ]  # fmt: skip
    return {
        "customer_id": customer_id,
        "currency": currency,
        "profile": profile,
        "lifecycle": {"state": state, "history": history or [], "events": events or []},
        "scoring": scoring,
        "notify": notify,
        "audiences": audiences,
        "sources": dict(EXPORTED_AS),
    }
