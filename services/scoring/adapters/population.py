"""Whole-population reads and writes: the fit's extraction, and the bulk rescore via COPY."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.scoring.adapters import customer_store
from services.scoring.adapters import statistics as sql
from services.scoring.service_layer.fitting import population_statistics
from services.scoring.service_layer.scorer import Statistics
from shared.cloudevents import KafkaRecord


async def extract_population(
    conn: AsyncConnection, as_of: datetime, window_days: float
) -> Statistics:
    """Occasion aggregates of every customer with a purchase up to ``as_of``."""
    params = sql.time_params(as_of, window_days)
    row = (await conn.execute(sa.text(sql.population_query()), params)).mappings().one()
    return population_statistics(
        np.array(row["n"] or [], dtype=np.int64),
        np.array(row["first_day"] or [], dtype=np.int64),
        np.array(row["last_day"] or [], dtype=np.int64),
        np.array(row["total"] or [], dtype=np.float64),
        np.array(row["first_amount"] or [], dtype=np.float64),
        sql.day_number(as_of),
    )


async def write_scores(conn: AsyncConnection, columns: dict[str, list[Any]]) -> set[str]:
    """Stages the rows with COPY and updates those not changed since they were read."""
    # Through SQLAlchemy first: that opens the transaction the temp table lives in.
    await conn.execute(sa.text(customer_store.CREATE_STAGING))
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    names = customer_store.SCORE_COLUMN_NAMES
    records = list(zip(*(columns[name] for name in names), strict=True))
    await raw.copy_records_to_table("scoring_rescore_staging", records=records, columns=names)
    updated = await raw.fetch(customer_store.UPDATE_FROM_STAGING)
    return {row[0] for row in updated}


async def enqueue_copy(conn: AsyncConnection, service: str, records: Sequence[KafkaRecord]) -> None:
    """The outbox rows of shared.outbox, written with COPY (a rescore may emit millions)."""
    if not records:
        return
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    rows = [
        (
            service,
            r.topic,
            r.key,
            r.value,
            orjson.dumps([[k, v.decode()] for k, v in r.headers]).decode(),
        )
        for r in records
    ]
    await raw.copy_records_to_table(
        "outbox", records=rows, columns=["service", "topic", "key", "value", "headers"]
    )
