"""GDPR erasure of one customer's lifecycle data, in one PostgreSQL transaction.

Lifecycle erases only its own tables, records the erasure (shared/erasure.py) and then
publishes the erasure tombstone on clm.customer-state.v1; scoring and notify erase their own
data when they read it (shared/erasure_consumer.py). Default: every lifecycle row of the
customer is deleted. With CLM_LIFECYCLE_ERASURE_KEEP_AGGREGATES only anonymous aggregates
survive, under `shared.erasure.pseudonym(secret, id)`:

- lifecycle_customers: the row's stage, flags, tier, pattern, reactivations, first/last
  purchase dates, occasions, total and trailing spend and churn risk; `facts` is emptied
  (no profile, no purchase/contact/complaint records, no event ids), `history` emptied and
  `next_due_at` cleared, so the row is never re-derived.
- lifecycle_transitions: kept for the per-day statistics, with `cause_event_id` = "erased".
Everything else is deleted: lifecycle's contact keys (normalised e-mail, phone, name) and
lifecycle's pending outbox records keyed by the customer.
"""

from dataclasses import dataclass

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.lifecycle.domain import CustomerFacts
from shared.erasure import (
    delete_customer_rows,
    delete_pending_outbox,
    erased_among,
    lock_for_erasure,
    pseudonym,
    record_erasure,
)

# Tables whose rows of the customer are deleted in every mode.
_ALWAYS_DELETED = ("lifecycle_contact_keys", "lifecycle_facts")
# Tables re-keyed to the pseudonym with aggregates kept, or deleted by default.
_AGGREGATES = ("lifecycle_customers", "lifecycle_transitions")


@dataclass(frozen=True)
class Erasure:
    found: bool  # lifecycle rows of the customer existed (now erased)
    already_erased: bool  # the id had been erased before
    rows: int  # rows deleted or anonymised

    @property
    def known(self) -> bool:
        return self.found or self.already_erased


async def erase(
    conn: AsyncConnection, customer_id: str, secret: str, *, keep_aggregates: bool
) -> Erasure:
    """Erases inside the caller's transaction; records the erasure only for a known id."""
    await lock_for_erasure(conn)
    already = bool(await erased_among(conn, [customer_id], secret))
    deleted = _ALWAYS_DELETED if keep_aggregates else _ALWAYS_DELETED + _AGGREGATES
    rows = await delete_customer_rows(conn, deleted, customer_id)
    if keep_aggregates:
        rows += await _anonymise(conn, customer_id, secret)
    await delete_pending_outbox(conn, "lifecycle", customer_id)
    found = rows > 0
    if found or already:
        await record_erasure(conn, secret, customer_id)
    return Erasure(found=found, already_erased=already, rows=rows)


async def _anonymise(conn: AsyncConnection, customer_id: str, secret: str) -> int:
    anon = pseudonym(secret, customer_id)
    params = {"id": customer_id, "anon": anon}
    empty_facts = orjson.dumps(CustomerFacts(anon).to_json()).decode()
    statements = [
        (
            "UPDATE lifecycle_customers SET customer_id = :anon, "
            "facts = :facts, checkpoint = NULL, history = '', next_due_at = NULL, "
            "updated_at = now() WHERE customer_id = :id",
            {**params, "facts": empty_facts},
        ),
        (
            "UPDATE lifecycle_transitions SET customer_id = :anon, cause_event_id = 'erased' "
            "WHERE customer_id = :id",
            params,
        ),
    ]
    rows = 0
    for statement, values in statements:
        rows += (await conn.execute(sa.text(statement), values)).rowcount
    return rows
