"""Set-based writes of batch facts and scores: per table and batch, one COPY into a
connection's temporary table and one statement from it."""

from collections.abc import Sequence
from dataclasses import fields, replace
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.scoring.adapters import statistics as sql
from services.scoring.service_layer.facts import BatchFacts
from services.scoring.service_layer.scorer import Scores
from shared.business_calendar import BusinessCalendar

T = TypeVar("T")

# Each kind of fact: its batch table (the names of BatchFacts.columns) and the write from it.
# Rows go in key order: neighbouring index entries are written together.
_ORDER_VERSIONS = (
    "scoring_batch_order_versions",
    (("ids", "varchar"), ("events", "varchar"), ("orders", "varchar"), ("times", "timestamptz"),
     ("amounts", "float8")),
    """
    INSERT INTO scoring_order_versions (customer_id, event_id, order_id, occurred_at, amount)
    SELECT * FROM scoring_batch_order_versions ORDER BY ids, events
    ON CONFLICT DO NOTHING
    """,
)  # fmt: skip

_REFUNDS = (
    "scoring_batch_refunds",
    (("ids", "varchar"), ("events", "varchar"), ("orders", "varchar"), ("times", "timestamptz"),
     ("amounts", "float8")),
    """
    INSERT INTO scoring_refunds (customer_id, event_id, order_id, occurred_at, amount)
    SELECT * FROM scoring_batch_refunds ORDER BY ids, events
    ON CONFLICT DO NOTHING
    """,
)  # fmt: skip

# One purchase row per order that counts (the same rule as lifecycle's facts.Order): placed
# by its earliest version, for its latest version's amount (ties: the greater event id) less
# its partial refunds; gone after a full refund or once refunds reach its amount. Then the
# customer's occasions (calendar days of the business's time zone) from those rows.
_REBUILD_ORDERS = """
    DELETE FROM scoring_purchases WHERE customer_id = ANY(:ids);
    INSERT INTO scoring_purchases (customer_id, event_id, occurred_at, amount)
    SELECT v.customer_id, v.placed_by, v.placed_at, v.amount - coalesce(r.taken, 0)
    FROM (
        SELECT customer_id, order_id, min(occurred_at) AS placed_at,
               (array_agg(event_id ORDER BY occurred_at, event_id))[1] AS placed_by,
               (array_agg(amount ORDER BY occurred_at DESC, event_id DESC))[1] AS amount
        FROM scoring_order_versions WHERE customer_id = ANY(:ids)
        GROUP BY customer_id, order_id
    ) AS v
    LEFT JOIN (
        SELECT customer_id, order_id, bool_or(amount IS NULL) AS whole,
               coalesce(sum(amount), 0) AS taken
        FROM scoring_refunds WHERE customer_id = ANY(:ids)
        GROUP BY customer_id, order_id
    ) AS r ON r.customer_id = v.customer_id AND r.order_id = v.order_id
    WHERE r.customer_id IS NULL OR (NOT r.whole AND r.taken < v.amount)
    ORDER BY 1, 2;
    DELETE FROM scoring_occasions WHERE customer_id = ANY(:ids);
    INSERT INTO scoring_occasions (customer_id, day, amount, orders, first_at, last_at)
    SELECT customer_id, (occurred_at AT TIME ZONE :zone)::date, sum(amount), count(*),
           min(occurred_at), max(occurred_at)
    FROM scoring_purchases WHERE customer_id = ANY(:ids)
    GROUP BY 1, 2 ORDER BY 1, 2
"""

_COMPLAINTS = (
    "scoring_batch_complaints",
    (("ids", "varchar"), ("tickets", "varchar"), ("opened", "timestamptz"),
     ("resolved", "timestamptz"), ("satisfaction", "smallint"),
     ("satisfaction_at", "timestamptz"), ("nps", "smallint"), ("nps_at", "timestamptz")),
    """
    INSERT INTO scoring_complaints AS t
        (customer_id, ticket_id, opened_at, resolved_at, satisfaction, satisfaction_at,
         nps, nps_at)
    SELECT * FROM scoring_batch_complaints ORDER BY ids, tickets
    ON CONFLICT (customer_id, ticket_id) DO UPDATE SET
        opened_at = least(t.opened_at, excluded.opened_at),
        resolved_at = greatest(t.resolved_at, excluded.resolved_at),
        satisfaction = CASE
            WHEN excluded.satisfaction_at IS NOT NULL AND (t.satisfaction_at IS NULL
                 OR excluded.satisfaction_at >= t.satisfaction_at)
            THEN excluded.satisfaction ELSE t.satisfaction END,
        satisfaction_at = greatest(t.satisfaction_at, excluded.satisfaction_at),
        nps = CASE
            WHEN excluded.nps_at IS NOT NULL AND (t.nps_at IS NULL OR excluded.nps_at >= t.nps_at)
            THEN excluded.nps ELSE t.nps END,
        nps_at = greatest(t.nps_at, excluded.nps_at)
    """,
)  # fmt: skip

_CONTACTS = (
    "scoring_batch_contacts",
    (
        ("ids", "varchar"),
        ("events", "varchar"),
        ("times", "timestamptz"),
        ("inbound", "boolean"),
        ("nps", "smallint"),
    ),
    """
    INSERT INTO scoring_contacts (customer_id, event_id, occurred_at, inbound, nps)
    SELECT * FROM scoring_batch_contacts ORDER BY ids, events
    ON CONFLICT DO NOTHING
    """,
)

_Fact = tuple[str, tuple[tuple[str, str], ...], str]


async def _write_fact(conn: AsyncConnection, fact: _Fact, values: dict[str, list[Any]]) -> None:
    table, columns, write = fact
    await _copy_batch(conn, table, columns, values)
    await conn.exec_driver_sql(write)


async def record_facts(
    conn: AsyncConnection, facts: BatchFacts, calendar: BusinessCalendar
) -> None:
    """Orders (versions, refunds, and the purchases and occasions derived from them),
    complaints and contacts of a batch. The customers' own row
    (first seen, acquisition cost) is written once, with the scores (``store_scores``)."""
    if facts.purchases:
        await _write_fact(conn, _ORDER_VERSIONS, facts.columns("purchases"))
    if facts.refunds:
        await _write_fact(conn, _REFUNDS, facts.columns("refunds"))
    ordering = facts.ordering_customers
    if ordering:
        for statement in _REBUILD_ORDERS.split(";"):
            parameters = {"ids": ordering, "zone": calendar.zone_name}
            await conn.execute(sa.text(statement), parameters)
    if facts.complaints:
        await _write_fact(conn, _COMPLAINTS, facts.columns("complaints"))
    if facts.contacts:
        await _write_fact(conn, _CONTACTS, facts.columns("contacts"))


# Small reads (a batch, one customer) need neither parallel workers nor JIT compilation: both
# cost more to start (tens of ms) than the indexed read itself.
_SMALL_READ = sa.text(
    "SELECT set_config('max_parallel_workers_per_gather', '0', true), "
    "set_config('jit', 'off', true)"
)
# The whole-population reads hash a million customers: in memory, not in 4 MB spill batches.
BULK_READ_SETTINGS = sa.text("SELECT set_config('work_mem', '256MB', true)")


async def load_customers(
    conn: AsyncConnection,
    customer_ids: list[str] | None,
    as_of: datetime,
    window_days: float,
    calendar: BusinessCalendar,
    coverage: sql.Coverage | None = None,
) -> sql.CustomerRows:
    """Statistics of the listed customers (or of all of them) as of ``as_of``; by default
    only stored customers ("known"), "batch" gives a row for every listed id."""
    if customer_ids is None:
        coverage = "all"
        await conn.execute(BULK_READ_SETTINGS)
    else:
        coverage = coverage or "known"
        await conn.execute(_SMALL_READ)
    query = sql.as_columns_query(sql.customers_query(coverage))
    params = sql.time_params(as_of, window_days, calendar)
    if customer_ids is not None:
        params["ids"] = customer_ids
    row = (await conn.execute(sa.text(query), params)).mappings().one()
    columns = {name: (row[name] or []) for name in sql.ROW_COLUMNS}
    return sql.customer_rows(columns, sql.day_number(as_of, calendar))


# Written back per customer: (name, SQL type, expression stored).
_SCORE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("customer_id", "varchar", ""),
    ("revision", "bigint", ""),
    ("occasions", "int", "u.occasions"),
    ("first_day", "int", ""),
    ("last_day", "int", ""),
    ("total_spend", "float8", "u.total_spend"),
    ("frequency", "int", "u.frequency"),
    ("recency", "float8", "NULLIF(u.recency, 'NaN')"),
    ("age", "float8", "NULLIF(u.age, 'NaN')"),
    ("monetary", "float8", "u.monetary"),
    ("complaints", "int", "u.complaints"),
    ("contacts", "int", "u.contacts"),
    ("satisfaction", "float8", "NULLIF(u.satisfaction, 'NaN')"),
    ("model_id", "varchar", "u.model_id"),
    ("time_unit", "varchar", "u.time_unit"),
    ("horizon", "float8", "u.horizon"),
    ("scored_at", "timestamptz", "u.scored_at"),
    ("p_alive", "float8", "NULLIF(u.p_alive, 'NaN')"),
    ("churn_risk", "float8", "NULLIF(u.churn_risk, 'NaN')"),
    ("expected_purchases", "float8", "NULLIF(u.expected_purchases, 'NaN')"),
    ("expected_avg_spend", "float8", "NULLIF(u.expected_avg_spend, 'NaN')"),
    ("clv", "float8", "NULLIF(u.clv, 'NaN')"),
    ("rfm_recency", "smallint", "u.rfm_recency"),
    ("rfm_frequency", "smallint", "u.rfm_frequency"),
    ("rfm_monetary", "smallint", "u.rfm_monetary"),
    ("segment", "varchar", "NULLIF(u.segment, '')"),
    ("health_score", "float8", "NULLIF(u.health_score, 'NaN')"),
    ("publish", "boolean", ""),
)
SCORE_COLUMN_NAMES = [name for name, _, _ in _SCORE_COLUMNS]
SCORE_COLUMN_TYPES = {name: kind for name, kind, _ in _SCORE_COLUMNS}


def _rescored_values() -> dict[str, str]:
    """What a bulk rescore writes, per column, from a staged row ``u`` over the stored ``c``."""
    values = {name: expr for name, _, expr in _SCORE_COLUMNS if expr}
    values["first_purchase_day"] = (
        "CASE WHEN u.occasions > 0 THEN DATE '1970-01-01' + u.first_day END"
    )
    values["last_purchase_day"] = (
        "CASE WHEN u.occasions > 0 THEN DATE '1970-01-01' + u.last_day END"
    )
    for name in ("p_alive", "churn_risk", "clv"):
        values[f"published_{name}"] = (
            f"CASE WHEN u.publish THEN NULLIF(u.{name}, 'NaN') ELSE c.published_{name} END"
        )
    values["published_segment"] = (
        "CASE WHEN u.publish THEN NULLIF(u.segment, '') ELSE c.published_segment END"
    )
    return values


RESCORED_VALUES = _rescored_values()


_PUBLISHED = ("p_alive", "churn_risk", "clv", "segment")
# The customer's own facts, written with the scores by the online upsert.
_FACT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("first_seen_at", "timestamptz"),
    ("acquisition_cost", "float8"),
    ("acquisition_cost_at", "timestamptz"),
)


_BATCH_CUSTOMERS = "scoring_batch_customers"
_BATCH_CUSTOMER_COLUMNS = [(n, k) for n, k, _ in _SCORE_COLUMNS] + list(_FACT_COLUMNS)


def _batch_table(name: str, columns: Sequence[tuple[str, str]]) -> str:
    """A connection's own table for a batch's rows, emptied at every commit."""
    listed = ", ".join(f"{column} {kind}" for column, kind in columns)
    return f"CREATE TEMP TABLE IF NOT EXISTS {name} ({listed}) ON COMMIT DELETE ROWS"


async def _copy_batch(
    conn: AsyncConnection,
    name: str,
    columns: Sequence[tuple[str, str]],
    values: dict[str, list[Any]],
) -> None:
    """Batch rows into the temporary table ``name`` by COPY. Bound as array parameters, every
    element went through a Python-level isinstance against collections.abc in asyncpg (30+
    values per customer): the largest Python cost of store_scores."""
    # Through SQLAlchemy, so that its transaction has begun before the raw COPY: rows copied
    # outside it would be deleted at once (ON COMMIT DELETE ROWS). Emptied first as well: a
    # second batch in one transaction must not see the first's rows.
    await conn.exec_driver_sql(_batch_table(name, columns))
    await conn.exec_driver_sql(f"DELETE FROM {name}")
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    names = [column for column, _ in columns]
    records = list(zip(*(values[column] for column in names), strict=True))
    await raw.copy_records_to_table(name, records=records, columns=names)


def _online_upsert_sql() -> str:
    """One write per customer and batch: new customers inserted, known ones updated with
    their facts merged (earliest first_seen_at, latest acquisition cost) and the scores.
    published_* take the new values where the batch publishes (the only rows where
    published_churn_risk is given: a published customer always has a churn_risk)."""
    source = f"{_BATCH_CUSTOMERS} AS u"
    values = {name: f"u.{name}" for name, _ in _FACT_COLUMNS}
    values.update({name: expr for name, _, expr in _SCORE_COLUMNS if expr})
    values["first_purchase_day"] = (
        "CASE WHEN u.occasions > 0 THEN DATE '1970-01-01' + u.first_day END"
    )
    values["last_purchase_day"] = (
        "CASE WHEN u.occasions > 0 THEN DATE '1970-01-01' + u.last_day END"
    )
    for name in _PUBLISHED:
        empty = "''" if name == "segment" else "'NaN'"
        values[f"published_{name}"] = f"CASE WHEN u.publish THEN NULLIF(u.{name}, {empty}) END"
    updates = {name: f"excluded.{name}" for name in values}
    updates["first_seen_at"] = "least(c.first_seen_at, excluded.first_seen_at)"
    updates["acquisition_cost"] = (
        "CASE WHEN excluded.acquisition_cost_at IS NOT NULL AND (c.acquisition_cost_at IS NULL"
        " OR excluded.acquisition_cost_at >= c.acquisition_cost_at)"
        " THEN excluded.acquisition_cost ELSE c.acquisition_cost END"
    )
    updates["acquisition_cost_at"] = "greatest(c.acquisition_cost_at, excluded.acquisition_cost_at)"
    for name in _PUBLISHED:
        updates[f"published_{name}"] = (
            f"CASE WHEN excluded.published_churn_risk IS NOT NULL "
            f"THEN excluded.published_{name} ELSE c.published_{name} END"
        )
    updates["revision"] = "c.revision + 1"
    return (
        f"INSERT INTO scoring_customers AS c (customer_id, {', '.join(values)}) "
        f"SELECT u.customer_id, {', '.join(values.values())} FROM {source} "
        "ORDER BY u.customer_id "  # one lock order for every writer
        f"ON CONFLICT (customer_id) DO UPDATE SET "
        + ", ".join(f"{name} = {expr}" for name, expr in updates.items())
    )


_UPSERT_ONLINE = _online_upsert_sql()
CREATE_STAGING = _batch_table(
    "scoring_rescore_staging", [(name, kind) for name, kind, _ in _SCORE_COLUMNS]
)


def score_columns(
    rows: sql.CustomerRows,
    scores: Scores,
    model_id: str | None,
    time_unit: str | None,
    scored_at: datetime,
    publish: Any,
    part: slice | None = None,
) -> dict[str, list[Any]]:
    """Columns of the update for ``part`` of the customers (all by default)."""
    part = part or slice(None)
    stats = _sliced(rows.stats, part)
    scores = _sliced(scores, part)
    rows = sql.CustomerRows(
        rows.customer_ids[part], rows.revisions[part], stats, rows.published, None
    )
    publish = np.asarray(publish, dtype=bool)[part]
    n = len(rows.customer_ids)

    buyer = stats.purchasers

    def ints(values: Any) -> list[Any]:
        if values is None:
            return [None] * n
        return [v if b else None for v, b in zip(np.asarray(values).tolist(), buyer, strict=True)]

    return {
        "customer_id": rows.customer_ids,
        "revision": rows.revisions,
        "occasions": stats.occasions.tolist(),
        "first_day": stats.first_day.tolist(),
        "last_day": stats.last_day.tolist(),
        "total_spend": stats.total_spend.tolist(),
        "frequency": scores.frequency.tolist(),
        "recency": scores.recency.tolist(),
        "age": scores.age.tolist(),
        "monetary": scores.monetary.tolist(),
        "complaints": stats.complaints.astype(int).tolist(),
        "contacts": stats.contacts.astype(int).tolist(),
        "satisfaction": stats.satisfaction.tolist(),
        "model_id": [model_id] * n,
        "time_unit": [time_unit] * n,
        "horizon": [scores.horizon] * n,
        "scored_at": [scored_at] * n,
        "p_alive": scores.p_alive.tolist(),
        "churn_risk": scores.churn_risk.tolist(),
        "expected_purchases": scores.expected_purchases.tolist(),
        "expected_avg_spend": scores.expected_avg_spend.tolist(),
        "clv": scores.clv.tolist(),
        "rfm_recency": ints(scores.rfm_recency),
        "rfm_frequency": ints(scores.rfm_frequency),
        "rfm_monetary": ints(scores.rfm_monetary),
        "segment": [""] * n if scores.segment is None else scores.segment.tolist(),
        "health_score": scores.health_score.tolist(),
        "publish": np.asarray(publish, dtype=bool).tolist(),
    }


def _sliced(obj: T, part: slice) -> T:
    changes = {
        f.name: getattr(obj, f.name)[part]
        for f in fields(obj)  # type: ignore[arg-type]
        if isinstance(getattr(obj, f.name), np.ndarray)
    }
    return replace(obj, **changes)  # type: ignore[type-var]


def staging_records(columns: dict[str, list[Any]]) -> list[tuple[Any, ...]]:
    """``score_columns`` as rows for COPY into the staging table."""
    return list(zip(*(columns[name] for name in SCORE_COLUMN_NAMES), strict=True))


def fact_columns(facts: BatchFacts, customer_ids: list[str]) -> dict[str, list[Any]]:
    """The batch's own facts about each customer, in ``customer_ids`` order."""
    costs = [facts.acquisition_costs.get(c) for c in customer_ids]
    return {
        "first_seen_at": [facts.first_seen[c] for c in customer_ids],
        "acquisition_cost": [c[1] if c else None for c in costs],
        "acquisition_cost_at": [c[0] if c else None for c in costs],
    }


async def store_scores(conn: AsyncConnection, columns: dict[str, list[Any]]) -> None:
    """Online: each customer's row inserted or updated once, facts and scores together."""
    if columns["customer_id"]:
        await _copy_batch(conn, _BATCH_CUSTOMERS, _BATCH_CUSTOMER_COLUMNS, columns)
        await conn.exec_driver_sql(_UPSERT_ONLINE)
