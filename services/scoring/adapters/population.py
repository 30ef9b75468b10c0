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
from services.scoring.service_layer.publishing import SCHEMA, SCORES_UPDATED, SOURCE, Message
from services.scoring.service_layer.scorer import Statistics
from shared.cloudevents import JSON, SPEC_VERSION
from shared.logging import get_logger
from shared.topics import CUSTOMER_SCORES

log = get_logger(__name__)


async def extract_population(
    conn: AsyncConnection, as_of: datetime, window_days: float
) -> Statistics:
    """Occasion aggregates of every customer with a purchase up to ``as_of``."""
    params = sql.time_params(as_of, window_days)
    await conn.execute(customer_store.BULK_READ_SETTINGS)
    row = (await conn.execute(sa.text(sql.population_query()), params)).mappings().one()
    return population_statistics(
        np.array(row["n"] or [], dtype=np.int64),
        np.array(row["first_day"] or [], dtype=np.int64),
        np.array(row["last_day"] or [], dtype=np.int64),
        np.array(row["total"] or [], dtype=np.float64),
        np.array(row["first_amount"] or [], dtype=np.float64),
        sql.day_number(as_of),
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


def _rounded(column: str) -> str:
    """publishing._numbers in SQL: 10 decimals; NaN and infinities as null."""
    return (
        f"CASE WHEN u.{column} IN ('NaN', 'Infinity', '-Infinity') THEN NULL "
        f"ELSE round(u.{column}::numeric, 10)::float8 END"
    )


# publishing.score_messages built by the database for the staged customers to publish: the
# same keys, data fields (in the same order) and headers, so a rescore of a million customers
# does not encode a million JSON documents in Python and copy them over. The JSON text is
# PostgreSQL's (spaces after separators), the same document.
_RESCORE_OUTBOX = f"""
    INSERT INTO outbox (service, topic, key, value, headers)
    SELECT $1, $2, convert_to(u.customer_id, 'UTF8'),
           convert_to(json_build_object(
               'customer_id', u.customer_id, 'model_id', u.model_id,
               'p_alive', {_rounded("p_alive")}, 'churn_risk', {_rounded("churn_risk")},
               'expected_purchases', {_rounded("expected_purchases")},
               'expected_avg_spend', {_rounded("expected_avg_spend")},
               'clv', {_rounded("clv")}, 'segment', NULLIF(u.segment, ''),
               'health_score', {_rounded("health_score")}, 'horizon', u.horizon,
               'time_unit', u.time_unit, 'scored_at', $3::text, 'cause', $4::text
           )::text, 'UTF8'),
           jsonb_build_array(
               jsonb_build_array('ce_specversion', $5::text),
               jsonb_build_array('ce_id', encode(sha256(convert_to(
                   u.customer_id || chr(31) || u.model_id || chr(31) || $4::text, 'UTF8')), 'hex')),
               jsonb_build_array('ce_source', $6::text),
               jsonb_build_array('ce_type', $7::text),
               jsonb_build_array('ce_subject', u.customer_id),
               jsonb_build_array('ce_time', $3::text),
               jsonb_build_array('content-type', $8::text),
               jsonb_build_array('ce_dataschema', $9::text))
    FROM scoring_rescore_staging u
    WHERE u.publish AND u.customer_id <> ALL($10::varchar[])
"""


async def swap_in_rescore(
    conn: AsyncConnection, *, service: str, cause: str, scored_at: datetime
) -> int:
    """Makes the staged scores current and puts the score updates of the staged customers
    to publish in the outbox; returns how many customers got the new scores.

    Rewriting (nearly) every row in place costs a new row version plus an entry in every
    index per customer, at random places in the indexes, with a full-page image in the WAL
    for each page first touched after a checkpoint: about 1.6 kB of WAL per customer, over a
    minute for a million. Instead the table is rebuilt: one sequential INSERT ... SELECT of
    stored rows merged with the staged scores into a copy, its indexes built by sorting,
    then swapped in for the old table, all in this transaction. Writers wait (SHARE ROW
    EXCLUSIVE lock) from the merge to the commit; readers are only blocked by the short
    swap itself. A customer changed online since the read (revision moved on) keeps its
    stored row and gets no score update from the rescore.
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
    staged = await raw.fetchval("SELECT count(*) FROM scoring_rescore_staging")
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
    swapped = perf_counter()
    await raw.execute(
        _RESCORE_OUTBOX,
        service,
        CUSTOMER_SCORES,
        scored_at.isoformat(),
        cause,
        SPEC_VERSION,
        SOURCE,
        SCORES_UPDATED,
        JSON,
        SCHEMA,
        stale,
    )
    log.info(
        "rescore_swapped",
        lock_wait_seconds=round(locked - started, 2),
        merge_seconds=round(merged - locked, 2),
        index_and_swap_seconds=round(swapped - merged, 2),
        outbox_seconds=round(perf_counter() - swapped, 2),
    )
    return int(staged) - len(stale)


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
