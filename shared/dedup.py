"""Consumer-side idempotency: a (consumer, event_id) row written in the batch's transaction."""

from collections.abc import Callable, Sequence
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db import metadata

T = TypeVar("T")

processed_events = sa.Table(
    "processed_events",
    metadata,
    sa.Column("consumer", sa.String(64), primary_key=True),
    sa.Column("event_id", sa.String(128), primary_key=True),
    sa.Column("processed_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
)

_CLAIM = sa.text(
    "INSERT INTO processed_events (consumer, event_id) "
    "SELECT :consumer, unnest(CAST(:ids AS varchar[])) "
    "ON CONFLICT DO NOTHING RETURNING event_id"
).bindparams(sa.bindparam("ids", type_=ARRAY(sa.String)))


async def claim_new(conn: AsyncConnection, consumer: str, event_ids: Sequence[str]) -> set[str]:
    """Records the ids as processed and returns those not seen before (one round trip)."""
    if not event_ids:
        return set()
    unique = list(dict.fromkeys(event_ids))
    result = await conn.execute(_CLAIM, {"consumer": consumer, "ids": unique})
    return {row[0] for row in result}


async def keep_new(
    conn: AsyncConnection, consumer: str, items: Sequence[T], event_id: Callable[[T], str]
) -> list[T]:
    """The items `consumer` has not processed before, in order, a repeat inside the batch once;
    records them as processed in the caller's transaction (`claim_new`)."""
    fresh = await claim_new(conn, consumer, [event_id(item) for item in items])
    kept = []
    for item in items:
        if (key := event_id(item)) in fresh:
            kept.append(item)
            fresh.discard(key)
    return kept
