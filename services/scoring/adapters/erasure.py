"""Scoring's part of a GDPR erasure, run when the erasure tombstone arrives (shared/erasure_consumer).

Always deleted: the customer's purchases, order versions, refunds, contacts and complaints
(event and ticket ids) and pending outbox records of scoring keyed by the customer. Default:
the aggregates and scores (scoring_customers) and per-day amounts (scoring_occasions) are deleted
too; with CLM_SCORING_ERASURE_KEEP_AGGREGATES they are kept under `shared.erasure.pseudonym`.
"""

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.erasure import delete_customer_rows, delete_pending_outbox, pseudonym

_ALWAYS_DELETED = (
    "scoring_purchases",
    "scoring_order_versions",
    "scoring_refunds",
    "scoring_contacts",
    "scoring_complaints",
)
_AGGREGATES = ("scoring_customers", "scoring_occasions")


async def erase_scoring_data(
    conn: AsyncConnection, customer_id: str, secret: str, *, keep_aggregates: bool
) -> int:
    """Erases inside the caller's transaction; returns the rows deleted or re-keyed."""
    deleted = _ALWAYS_DELETED if keep_aggregates else _ALWAYS_DELETED + _AGGREGATES
    rows = await delete_customer_rows(conn, deleted, customer_id)
    if keep_aggregates:
        params = {"id": customer_id, "anon": pseudonym(secret, customer_id)}
        for table in _AGGREGATES:  # names from the constant above, never from input
            statement = f"UPDATE {table} SET customer_id = :anon WHERE customer_id = :id"
            rows += (await conn.execute(sa.text(statement), params)).rowcount
    await delete_pending_outbox(conn, "scoring", customer_id)
    return rows
