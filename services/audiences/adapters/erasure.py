"""Audiences' part of a GDPR erasure, run when the erasure tombstone arrives
(shared/erasure_consumer).

Deleted: the customer's view (stage, flags, tier, scores, purchase dates, locale, profile
attributes), every membership, and pending outbox records of audiences keyed by the customer.
No exit is published for the deleted memberships: an exit would put the erased id back on
clm.segment-memberships.v1 (a marketing tool syncing an audience learns of the erasure from its
own erasure process, not from an audience exit).
"""

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.erasure import delete_customer_rows, delete_pending_outbox

_DELETED = ("audience_members", "audience_customers")


async def erase_audiences_data(conn: AsyncConnection, customer_id: str) -> int:
    """Erases inside the caller's transaction; returns the rows deleted."""
    rows = await delete_customer_rows(conn, _DELETED, customer_id)
    await delete_pending_outbox(conn, "audiences", customer_id)
    return rows
