"""Per-customer transaction locks that hold even for a customer with no row yet."""

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

_LOCK = sa.text(
    "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended(c, :seed) AS k "
    "FROM unnest(CAST(:ids AS text[])) AS c) AS keys ORDER BY k"
)


async def lock_customers(conn: AsyncConnection, customer_ids: Iterable[str], seed: int) -> None:
    """Holds these customers until the transaction ends; taken in key order (no deadlock
    between two holders). `seed` keeps each service's locks apart from another's."""
    ids = sorted(set(customer_ids))
    if ids:
        await conn.execute(_LOCK, {"ids": ids, "seed": seed})
