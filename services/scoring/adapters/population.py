"""Whole-population reads and writes: the fit's extraction, and the bulk rescore via COPY."""

import re
from collections.abc import Sequence
from datetime import datetime
from time import perf_counter
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.scoring.adapters import customer_store
from services.scoring.adapters import statistics as sql
from services.scoring.service_layer.fitting import population_statistics
from services.scoring.service_layer.publishing import Message
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


_BULK_WRITE_SETTINGS = sa.text(
    "SELECT set_config('work_mem', '256MB', true), "
    "set_config('maintenance_work_mem', '256MB', true)"
)
_INDEX_DEF = re.compile(r"^(CREATE (?:UNIQUE )?INDEX )(\S+)( ON (?:ONLY )?)(\S+)( .*)$")


async def begin_rescore(conn: AsyncConnection) -> None:
    """Opens the bulk rescore's staging table (temporary: not WAL-logged, gone at commit)."""
    await conn.execute(sa.text(customer_store.CREATE_STAGING))
    await conn.execute(_BULK_WRITE_SETTINGS)


async def stage_rescore(conn: AsyncConnection, staged: list[tuple[Any, ...]]) -> None:
    """COPY of a part of the new scores (``customer_store.staging_records``)."""
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    names = customer_store.SCORE_COLUMN_NAMES
    await raw.copy_records_to_table("scoring_rescore_staging", records=staged, columns=names)


async def swap_in_rescore(conn: AsyncConnection) -> set[str]:
    """Makes the staged scores current; returns the staged customers that kept their stored
    row (changed online since the read), whose score updates must not be published.

    Rewriting (nearly) every row in place costs a new row version plus an entry in every
    index per customer, at random places in the indexes, with a full-page image in the WAL
    for each page first touched after a checkpoint: about 1.6 kB of WAL per customer, over a
    minute for a million. Instead the table is rebuilt: one sequential INSERT ... SELECT of
    stored rows merged with the staged scores into a copy, its indexes built by sorting,
    then swapped in for the old table, all in this transaction. Writers wait (SHARE ROW
    EXCLUSIVE lock) from the merge to the commit; readers are only blocked by the short
    swap itself. A customer changed online since the read (revision moved on) keeps its
    stored row and gets no score update from the rescore. The lock is held until the commit,
    so the returned set stays right while the caller writes the score updates.
    """
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    started = perf_counter()
    await raw.execute("ANALYZE scoring_rescore_staging")
    await raw.execute("LOCK TABLE scoring_customers IN SHARE ROW EXCLUSIVE MODE")
    locked = perf_counter()
    columns = [
        row[0]
        for row in await raw.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'scoring_customers'::regclass "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        )
    ]
    indexes = await raw.fetch(
        "SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition, "
        "i.indisprimary AS is_primary FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = 'scoring_customers'::regclass"
    )
    stale = [
        row[0]
        for row in await raw.fetch(
            "SELECT u.customer_id FROM scoring_rescore_staging u "
            "LEFT JOIN scoring_customers c ON c.customer_id = u.customer_id "
            "WHERE c.revision IS DISTINCT FROM u.revision"
        )
    ]
    values = customer_store.RESCORED_VALUES
    select = ", ".join(
        f"CASE WHEN u.customer_id IS NULL THEN c.{name} ELSE {values[name]} END"
        if name in values
        else f"c.{name}"
        for name in columns
    )
    await raw.execute(
        "CREATE TABLE scoring_customers_next "
        "(LIKE scoring_customers INCLUDING ALL EXCLUDING INDEXES)"
    )
    await raw.execute(
        f"INSERT INTO scoring_customers_next ({', '.join(columns)}) SELECT {select} "
        "FROM scoring_customers c LEFT JOIN scoring_rescore_staging u "
        "ON u.customer_id = c.customer_id AND u.revision = c.revision"
    )
    merged = perf_counter()
    renames = []
    for index in indexes:
        match = _INDEX_DEF.match(index["definition"])
        assert match is not None, index["definition"]
        temporary = f"{index['name'][:50]}_next"
        table = match[4].removesuffix("scoring_customers") + "scoring_customers_next"
        await raw.execute(f"{match[1]}{temporary}{match[3]}{table}{match[5]}")
        renames.append(
            f"ALTER TABLE scoring_customers ADD CONSTRAINT {index['name']} "
            f"PRIMARY KEY USING INDEX {temporary}"
            if index["is_primary"]
            else f"ALTER INDEX {temporary} RENAME TO {index['name']}"
        )
    await raw.execute("DROP TABLE scoring_customers")
    await raw.execute("ALTER TABLE scoring_customers_next RENAME TO scoring_customers")
    for statement in renames:
        await raw.execute(statement)
    await raw.execute("ANALYZE scoring_customers")
    log.info(
        "rescore_swapped",
        lock_wait_seconds=round(locked - started, 2),
        merge_seconds=round(merged - locked, 2),
        index_and_swap_seconds=round(perf_counter() - merged, 2),
    )
    return set(stale)


def outbox_rows(service: str, topic: str, messages: Sequence[Message]) -> list[tuple[Any, ...]]:
    """The rows of shared.outbox (what its relay publishes), for ``copy_outbox``."""
    return [(service, topic, key, value, headers) for key, value, headers in messages]


async def copy_outbox(conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Writes ``outbox_rows`` with COPY (a rescore may emit millions)."""
    if not rows:
        return
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    await raw.copy_records_to_table(
        "outbox", records=rows, columns=["service", "topic", "key", "value", "headers"]
    )
