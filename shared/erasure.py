"""GDPR erasure: the record of erased customers and the one check every consumer makes.

An erased customer is remembered only as a keyed hash of its id (HMAC-SHA256 with
CLM_ERASURE_SECRET), never the raw id: the table says "this id was erased" to whoever already
holds the id, and nothing to anyone who does not. The event topic is kept forever, so later
events and replays still carry the erased id; every consumer drops them in its batch
transaction with `drop_erased`, so nothing can bring the personal data back.

Concurrency: an erasure holds ERASURE_LOCK exclusively for its transaction; a consumer batch
takes it shared (no contention between batches) before its check. So an erasure waits for
batches in flight to commit (and then deletes what they wrote), and a batch that starts during
an erasure sees the erasure once it commits.
"""

import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db import metadata
from shared.logging import get_logger
from shared.metrics import ERASED_EVENTS_SKIPPED
from shared.settings import ServiceSettings

log = get_logger(__name__)
T = TypeVar("T")

# pg advisory lock id shared by erasures (exclusive) and consumer batches (shared).
ERASURE_LOCK = 0x434C4D45  # "CLME"

erased_customers = sa.Table(
    "erased_customers",
    metadata,
    sa.Column("customer_id_hash", sa.String(64), primary_key=True),
    sa.Column(
        "erased_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)


def default_secret() -> str:
    """CLM_ERASURE_SECRET from the environment (validated like every service setting)."""
    return ServiceSettings().erasure_secret


def customer_hash(secret: str, customer_id: str) -> str:
    """The keyed hash stored for an erased customer: hex HMAC-SHA256(secret, id)."""
    return hmac.new(secret.encode(), customer_id.encode(), hashlib.sha256).hexdigest()


PSEUDONYM_PREFIX = "anon-"


def pseudonym(secret: str, customer_id: str) -> str:
    """The id an anonymous aggregate is kept under (CLM_LIFECYCLE_ERASURE_KEEP_AGGREGATES).

    Derived with a different message than `customer_hash`, so the aggregate row cannot be
    joined to the erasure record, and not reversible without the secret.
    """
    digest = hmac.new(secret.encode(), b"aggregate\x00" + customer_id.encode(), hashlib.sha256)
    return f"{PSEUDONYM_PREFIX}{digest.hexdigest()[:40]}"


_ERASED_AMONG = sa.text(
    "SELECT customer_id_hash FROM erased_customers "
    "WHERE customer_id_hash = ANY(CAST(:hashes AS varchar[]))"
).bindparams(sa.bindparam("hashes", type_=ARRAY(sa.String)))


async def erased_among(conn: AsyncConnection, ids: Iterable[str], secret: str) -> set[str]:
    """The ids among `ids` that were erased (one query, whatever the batch size)."""
    by_hash = {customer_hash(secret, i): i for i in set(ids)}
    if not by_hash:
        return set()
    rows = await conn.execute(_ERASED_AMONG, {"hashes": list(by_hash)})
    return {by_hash[row[0]] for row in rows}


async def drop_erased(
    conn: AsyncConnection,
    items: Sequence[T],
    customer_of: Callable[[T], str],
    secret: str,
    service: str,
) -> list[T]:
    """`items` without those of erased customers; call inside the batch's transaction.

    Skipped items are counted (clm_erased_events_skipped_total) and logged by count only:
    no id or personal data is logged.
    """
    if not items:
        return []
    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock_shared(ERASURE_LOCK)))
    erased = await erased_among(conn, (customer_of(i) for i in items), secret)
    if not erased:
        return list(items)
    kept = [i for i in items if customer_of(i) not in erased]
    skipped = len(items) - len(kept)
    ERASED_EVENTS_SKIPPED.labels(service).inc(skipped)
    log.info("erased_customer_events_skipped", service=service, events=skipped)
    return kept


async def lock_for_erasure(conn: AsyncConnection) -> None:
    """Waits for consumer batches in flight; holds new ones off until this transaction ends."""
    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(ERASURE_LOCK)))


async def record_erasure(conn: AsyncConnection, secret: str, customer_id: str) -> bool:
    """Records the erasure; False when the id had already been erased."""
    stmt = (
        insert(erased_customers)
        .values(customer_id_hash=customer_hash(secret, customer_id))
        .on_conflict_do_nothing()
        .returning(erased_customers.c.customer_id_hash)
    )
    return (await conn.execute(stmt)).first() is not None


async def delete_customer_rows(
    conn: AsyncConnection, tables: Iterable[str], customer_id: str
) -> int:
    """Deletes the customer's rows of each table (names from the caller's constants, never from
    input); returns how many."""
    rows = 0
    for table in tables:
        result = await conn.execute(
            sa.text(f"DELETE FROM {table} WHERE customer_id = :id"), {"id": customer_id}
        )
        rows += result.rowcount
    return rows


async def delete_pending_outbox(conn: AsyncConnection, service: str, customer_id: str) -> None:
    """Not yet relayed records of `service` keyed by the customer would announce the id again."""
    await conn.execute(
        sa.text("DELETE FROM outbox WHERE service = :service AND key = :key"),
        {"service": service, "key": customer_id.encode()},
    )
