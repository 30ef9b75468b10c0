"""Whole-population reads and writes: the fit's extraction, and the bulk rescore via COPY."""

from datetime import datetime
from time import perf_counter
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.scoring.adapters import customer_store
from services.scoring.adapters import statistics as sql
from services.scoring.service_layer.fitting import population_statistics
from services.scoring.service_layer.scorer import Statistics
from shared.business_calendar import BusinessCalendar
from shared.logging import get_logger

log = get_logger(__name__)


async def extract_population(
    conn: AsyncConnection, as_of: datetime, window_days: float, calendar: BusinessCalendar
) -> Statistics:
    """Occasion aggregates of every customer with a purchase up to ``as_of``."""
    params = sql.time_params(as_of, window_days, calendar)
    await conn.execute(customer_store.BULK_READ_SETTINGS)
    row = (await conn.execute(sa.text(sql.population_query()), params)).mappings().one()
    return population_statistics(
        np.array(row["n"] or [], dtype=np.int64),
        np.array(row["first_day"] or [], dtype=np.int64),
        np.array(row["last_day"] or [], dtype=np.int64),
        np.array(row["total"] or [], dtype=np.float64),
        np.array(row["first_amount"] or [], dtype=np.float64),
        sql.day_number(as_of, calendar),
    )


_BULK_WRITE_SETTINGS = sa.text("SELECT set_config('work_mem', '256MB', true)")
# Session-level advisory locks (any 64-bit key unique to the purpose; these spell "clm fit").
FIT_LOCK = 0x636C6D5F666974
SCHEDULED_REFIT_LOCK = 0x636C6D5F72656674


async def stage_rescore(conn: AsyncConnection, staged: list[tuple[Any, ...]]) -> None:
    """COPY of a part of the new scores (``customer_store.staging_records``) into the
    connection's own staging table, created once per connection and emptied at every commit,
    as online batches do: no DDL on shared tables."""
    await conn.execute(sa.text(customer_store.CREATE_STAGING))
    await conn.execute(_BULK_WRITE_SETTINGS)
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    names = customer_store.SCORE_COLUMN_NAMES
    await raw.copy_records_to_table("scoring_rescore_staging", records=staged, columns=names)


async def apply_rescore(conn: AsyncConnection) -> set[str]:
    """Writes the staged scores over the stored rows, in this (short) transaction; returns
    the staged customers that kept their stored row (changed online since the read: revision
    moved on), whose score updates must not be published.

    The rows are locked in customer-id order first, the order online batches lock them in
    (customer_store's upsert): two writers never wait for each other in a cycle, so no
    deadlock. The table itself is never dropped, renamed or locked as a whole.
    """
    started = perf_counter()
    await conn.execute(
        sa.text(
            "SELECT c.customer_id FROM scoring_customers c "
            "JOIN scoring_rescore_staging u ON u.customer_id = c.customer_id "
            "ORDER BY c.customer_id FOR UPDATE OF c"
        )
    )
    values = customer_store.RESCORED_VALUES
    updated = await conn.execute(
        sa.text(
            "UPDATE scoring_customers AS c SET "
            + ", ".join(f"{name} = {expr}" for name, expr in values.items())
            + " FROM scoring_rescore_staging u "
            "WHERE u.customer_id = c.customer_id AND u.revision = c.revision "
            "RETURNING c.customer_id"
        )
    )
    written = {row[0] for row in updated}
    staged = {row[0] for row in await conn.execute(sa.text(_STAGED_IDS))}
    log.debug(
        "rescore_part_applied", customers=len(written), seconds=round(perf_counter() - started, 3)
    )
    return staged - written


_STAGED_IDS = "SELECT customer_id FROM scoring_rescore_staging"
