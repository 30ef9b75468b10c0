"""Notify's part of a GDPR erasure, run when the erasure tombstone arrives (shared/erasure_consumer).

Notify keeps no aggregates: the customer row (name, email, phone, birthday, locale, time zone,
consent, preferences), the messages (subjects, template context, coupons, provider responses)
and pending outbox records of notify keyed by the customer are deleted.
"""

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.erasure import delete_customer_rows, delete_pending_outbox

_DELETED = ("notify_customers", "notify_messages", "notify_outcomes")


async def erase_notify_data(conn: AsyncConnection, customer_id: str) -> int:
    """Erases inside the caller's transaction; returns the rows deleted."""
    rows = await delete_customer_rows(conn, _DELETED, customer_id)
    await delete_pending_outbox(conn, "notify", customer_id)
    return rows
