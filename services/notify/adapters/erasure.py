"""Notify's part of a GDPR erasure, run when the erasure tombstone arrives (shared/erasure_consumer).

Notify keeps no aggregates: the customer row (name, email, phone, birthday, locale, time zone,
consent, preferences), the messages (subjects, template context, coupons, provider responses)
and pending outbox records of notify keyed by the customer are deleted.
"""

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

_DELETED = ("notify_customers", "notify_messages")


async def erase_notify_data(conn: AsyncConnection, customer_id: str) -> int:
    """Erases inside the caller's transaction; returns the rows deleted."""
    rows = 0
    for table in _DELETED:  # names from the constant above, never from input
        result = await conn.execute(
            sa.text(f"DELETE FROM {table} WHERE customer_id = :id"), {"id": customer_id}
        )
        rows += result.rowcount
    # Not yet relayed notifications would announce the id again.
    await conn.execute(
        sa.text("DELETE FROM outbox WHERE service = 'notify' AND key = :key"),
        {"key": customer_id.encode()},
    )
    return rows
