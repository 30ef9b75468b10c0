"""Loads and saves customers' facts, derived state and transition log (set-based, per batch)."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.lifecycle.domain import Change, CustomerFacts, LifecycleState, Transition

from .tables import customers, transitions, watermark

Stored = tuple[CustomerFacts, tuple[Transition, ...]]


async def load_for_update(conn: AsyncConnection, ids: Sequence[str]) -> dict[str, Stored]:
    rows = await conn.execute(
        sa.select(customers.c.customer_id, customers.c.facts, customers.c.history)
        .where(customers.c.customer_id.in_(ids))
        .order_by(customers.c.customer_id)  # one lock order avoids deadlocks between instances
        .with_for_update()
    )
    return {
        r.customer_id: (
            CustomerFacts.from_json(r.facts),
            tuple(Transition.from_json(t) for t in r.history),
        )
        for r in rows
    }


async def claim_due(conn: AsyncConnection, now: datetime, limit: int) -> dict[str, Stored]:
    rows = await conn.execute(
        sa.select(customers.c.customer_id, customers.c.facts, customers.c.history)
        .where(customers.c.next_due_at <= now)
        .order_by(customers.c.next_due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return {
        r.customer_id: (
            CustomerFacts.from_json(r.facts),
            tuple(Transition.from_json(t) for t in r.history),
        )
        for r in rows
    }


def _row(facts: CustomerFacts, state: LifecycleState) -> dict[str, Any]:
    return {
        "customer_id": state.customer_id,
        "stage": state.stage.value,
        "stage_since": state.stage_since,
        "flags": sorted(f.value for f in state.flags),
        "tier": state.tier.value,
        "lifecycle_pattern": state.lifecycle_pattern.value if state.lifecycle_pattern else None,
        "reactivations": state.reactivations,
        "first_seen_at": state.first_seen_at,
        "first_purchase_at": state.first_purchase_at,
        "last_purchase_at": state.last_purchase_at,
        "purchase_occasions": state.purchase_occasions,
        "total_spend": state.total_spend,
        "trailing_spend": state.trailing_spend,
        "churn_risk": state.churn_risk,
        "facts": facts.to_json(),
        "history": [t.to_json() for t in state.history],
        "as_of": state.as_of,
        "next_due_at": state.next_due_at,
    }


async def save(
    conn: AsyncConnection, results: Iterable[tuple[CustomerFacts, LifecycleState]]
) -> None:
    rows = [_row(f, s) for f, s in results]
    if not rows:
        return
    stmt = insert(customers)
    updated: dict[str, Any] = {
        c.name: stmt.excluded[c.name] for c in customers.columns if c.name != "customer_id"
    }
    updated["updated_at"] = sa.func.now()
    await conn.execute(
        stmt.on_conflict_do_update(index_elements=["customer_id"], set_=updated), rows
    )


async def record_changes(conn: AsyncConnection, changes: Sequence[Change]) -> None:
    retracted = [c.retracts for c in changes if c.retracts]
    if retracted:
        await conn.execute(transitions.delete().where(transitions.c.id.in_(retracted)))
    new = [
        {
            "id": c.id,
            "customer_id": c.customer_id,
            "kind": c.kind.value,
            "from_stage": c.from_stage.value,
            "to_stage": c.to_stage.value,
            "flag": c.flag.value if c.flag else None,
            "occurred_at": c.occurred_at,
            "reason": c.reason.value,
            "cause_event_id": c.cause_event_id,
        }
        for c in changes
        if not c.is_correction
    ]
    if new:
        await conn.execute(insert(transitions).on_conflict_do_nothing(index_elements=["id"]), new)


async def advance_watermark(conn: AsyncConnection, seen: datetime | None) -> datetime | None:
    """The event-time clock: the latest occurred_at ever seen (never moves backwards)."""
    if seen is not None:
        stmt = insert(watermark).values(id=1, event_time=seen)
        stmt = stmt.on_conflict_do_update(
            index_elements=["id"],
            set_={"event_time": sa.func.greatest(watermark.c.event_time, stmt.excluded.event_time)},
        )
        await conn.execute(stmt)
    value: datetime | None = await conn.scalar(
        sa.select(watermark.c.event_time).where(watermark.c.id == 1)
    )
    return value
