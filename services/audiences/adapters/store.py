"""Reads and writes of the customer view, the segments and their members (PostgreSQL)."""

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from services.audiences.domain.customers import CustomerView
from services.audiences.domain.filters import Filter, parse_filter
from shared import customer_locks

from .sql_filters import condition
from .tables import audience_customers, audience_members, audience_segments

_VIEW_COLUMNS = (
    "stage", "tier", "clv", "churn_risk", "p_alive", "health_score", "rfm_segment", "scored_at",
    "last_purchase_at", "purchase_count", "locale", "attributes", "profile_at",
)  # fmt: skip
_IDS = sa.bindparam("ids", type_=ARRAY(sa.String))


def _with_ids(table: sa.Table) -> Any:
    """`unnest(:ids) JOIN table ON customer_id = id`: a nested loop of index lookups, one per
    id. `customer_id = ANY(:ids)` let the planner scan the table comparing each row with
    every id of the array (a parameter is not hashed) while its statistics still said the
    table was small, and an IN (SELECT unnest) chose a hashed scan of the whole table: both
    made batches several times slower as the tables grew."""
    ids = sa.func.unnest(_IDS).table_valued("id").render_derived(name="ids")
    return ids.join(table, table.c.customer_id == ids.c.id)


@dataclass(frozen=True)
class Segment:
    name: str
    filter: Filter
    raw_filter: Any
    description: str
    time_relative: bool
    uses_percentile: bool
    created_at: datetime
    built_at: datetime | None


def segment_of(row: Any) -> Segment:
    return Segment(
        name=row.name,
        filter=parse_filter(row.filter),  # stored only after it parsed: it parses again
        raw_filter=row.filter,
        description=row.description,
        time_relative=row.time_relative,
        uses_percentile=row.uses_percentile,
        created_at=row.created_at,
        built_at=row.built_at,
    )


_AUDIENCES_LOCK_SEED = 11  # apart from notify's customer locks


async def lock_views(conn: AsyncConnection, ids: Collection[str]) -> dict[str, CustomerView]:
    """The views of these customers, locked for this transaction (in id order: no deadlock
    with another batch or a sweep, which lock in the same order). A customer with no view yet
    is held by an advisory lock, so two consumers creating it write one after the other."""
    await customer_locks.lock_customers(conn, ids, _AUDIENCES_LOCK_SEED)
    rows = await conn.execute(
        sa.select(audience_customers)
        .select_from(_with_ids(audience_customers))
        .order_by(audience_customers.c.customer_id)
        .with_for_update(of=audience_customers),
        {"ids": sorted(ids)},
    )
    return {
        r.customer_id: CustomerView(
            customer_id=r.customer_id,
            flags=frozenset(r.flags),
            **{name: getattr(r, name) for name in _VIEW_COLUMNS},
        )
        for r in rows
    }


_SAVE_TYPES = {
    "customer_id": "varchar", "stage": "varchar", "flags": "text", "tier": "varchar",
    "clv": "float8", "churn_risk": "float8", "p_alive": "float8", "health_score": "float8",
    "rfm_segment": "varchar", "scored_at": "timestamptz", "last_purchase_at": "timestamptz",
    "purchase_count": "int", "locale": "varchar", "attributes": "text",
    "profile_at": "timestamptz",
}  # fmt: skip
_SAVE_VALUES = {
    name: {
        "flags": "string_to_array(u.flags, ',')::varchar[]",
        "attributes": "u.attributes::jsonb",
    }.get(name, f"u.{name}")
    for name in _SAVE_TYPES
}
# One statement per batch whatever its size: columns as arrays, unnested into rows (flags
# joined by ',' and attributes as JSON text, since unnest flattens nested arrays).
_SAVE = sa.text(
    f"INSERT INTO audience_customers ({', '.join(_SAVE_TYPES)}, updated_at) "
    f"SELECT {', '.join(_SAVE_VALUES.values())}, :now FROM unnest("
    + ", ".join(f"CAST(:{n} AS {t}[])" for n, t in _SAVE_TYPES.items())
    + f") AS u({', '.join(_SAVE_TYPES)}) ON CONFLICT (customer_id) DO UPDATE SET "
    + ", ".join(f"{n} = excluded.{n}" for n in [*list(_SAVE_TYPES)[1:], "updated_at"])
)


async def save_views(conn: AsyncConnection, views: Iterable[CustomerView], now: datetime) -> None:
    ordered = sorted(views, key=lambda v: v.customer_id)
    if not ordered:
        return
    params: dict[str, Any] = {name: [] for name in _SAVE_TYPES}
    for v in ordered:
        for name in _SAVE_TYPES:
            value = getattr(v, name)
            if name == "flags":
                value = ",".join(sorted(value))
            elif name == "attributes":
                value = orjson.dumps(value).decode()
            params[name].append(value)
    await conn.execute(_SAVE, {**params, "now": now})


async def segments(conn: AsyncConnection, *, share_lock: bool = True) -> list[Segment]:
    """Every segment; locked FOR SHARE so that none is deleted while a batch evaluates it."""
    query = sa.select(audience_segments).order_by(audience_segments.c.name)
    if share_lock:
        query = query.with_for_update(read=True)
    return [segment_of(r) for r in await conn.execute(query)]


async def segment(
    conn: AsyncConnection, name: str, *, lock: str | None = "share"
) -> Segment | None:
    """One segment; `lock` "share" (evaluating it) or "update" (deleting it) or None."""
    query = sa.select(audience_segments).where(audience_segments.c.name == name)
    if lock is not None:
        query = query.with_for_update(read=lock == "share")
    row = (await conn.execute(query)).first()
    return None if row is None else segment_of(row)


async def mark_segment(conn: AsyncConnection, name: str, **times: datetime) -> None:
    """Sets built_at and/or swept_at."""
    await conn.execute(
        audience_segments.update().where(audience_segments.c.name == name).values(**times)
    )


async def lock_customers(conn: AsyncConnection, ids: Collection[str]) -> list[str]:
    """Shares the customers' row locks (a batch changing them waits, and is waited for)."""
    rows = await conn.execute(
        sa.select(audience_customers.c.customer_id)
        .select_from(_with_ids(audience_customers))
        .order_by(audience_customers.c.customer_id)
        .with_for_update(read=True, of=audience_customers),
        {"ids": sorted(ids)},
    )
    return [r[0] for r in rows]


async def memberships(
    conn: AsyncConnection, ids: Collection[str]
) -> dict[str, dict[str, datetime]]:
    """segment -> {customer -> entered_at} for these customers."""
    rows = await conn.execute(
        sa.select(audience_members).select_from(_with_ids(audience_members)),
        {"ids": list(ids)},
    )
    found: dict[str, dict[str, datetime]] = {}
    for r in rows:
        found.setdefault(r.segment, {})[r.customer_id] = r.entered_at
    return found


async def matching(
    conn: AsyncConnection, segments: Sequence[Segment], ids: Collection[str], now: datetime
) -> dict[str, set[str]]:
    """segment -> the customers among `ids` its filter matches now: one query for every
    segment (a column per filter), so a batch reads its customers once."""
    if not segments or not ids:
        return {s.name: set() for s in segments}
    columns = [condition(s.filter, now).label(f"s{i}") for i, s in enumerate(segments)]
    rows = await conn.execute(
        sa.select(audience_customers.c.customer_id, *columns).select_from(
            _with_ids(audience_customers)
        ),
        {"ids": list(ids)},
    )
    found: dict[str, set[str]] = {s.name: set() for s in segments}
    for row in rows:
        for i, s in enumerate(segments):
            if row[i + 1]:
                found[s.name].add(row[0])
    return found


_ADD = sa.text(
    "INSERT INTO audience_members (segment, customer_id, entered_at) "
    "SELECT s, c, :at FROM unnest(CAST(:segments AS varchar[]), CAST(:customers AS varchar[])) "
    "AS pairs(s, c) ON CONFLICT DO NOTHING RETURNING segment, customer_id, entered_at"
)
_REMOVE = sa.text(
    "DELETE FROM audience_members m USING unnest(CAST(:segments AS varchar[]), "
    "CAST(:customers AS varchar[])) AS pairs(s, c) WHERE m.segment = pairs.s "
    "AND m.customer_id = pairs.c RETURNING m.segment, m.customer_id, m.entered_at"
)


async def add_memberships(
    conn: AsyncConnection, pairs: Iterable[tuple[str, str]], at: datetime
) -> dict[str, dict[str, datetime]]:
    """Adds (segment, customer) pairs; returns those really added (another transaction may
    have been first), segment -> {customer -> entered_at}. One statement for all segments."""
    return await _pairs(conn, _ADD, sorted(pairs), {"at": at})


async def remove_memberships(
    conn: AsyncConnection, pairs: Iterable[tuple[str, str]]
) -> dict[str, dict[str, datetime]]:
    """Removes (segment, customer) pairs; returns those really removed with their entry."""
    return await _pairs(conn, _REMOVE, sorted(pairs), {})


async def _pairs(
    conn: AsyncConnection, statement: Any, pairs: list[tuple[str, str]], extra: dict[str, Any]
) -> dict[str, dict[str, datetime]]:
    if not pairs:
        return {}
    params = {"segments": [p[0] for p in pairs], "customers": [p[1] for p in pairs], **extra}
    found: dict[str, dict[str, datetime]] = {}
    for segment, customer, entered_at in await conn.execute(statement, params):
        found.setdefault(segment, {})[customer] = entered_at
    return found


async def remove_members(conn: AsyncConnection, segment: str) -> dict[str, datetime]:
    """Removes every member of the segment; returns them with when they had entered."""
    stmt = (
        audience_members.delete()
        .where(audience_members.c.segment == segment)
        .returning(audience_members.c.customer_id, audience_members.c.entered_at)
    )
    return {r[0]: r[1] for r in await conn.execute(stmt)}


def candidates_query(segment: Segment, now: datetime) -> sa.Select[tuple[str]]:
    """Customers whose membership may be wrong now: matching non-members (to enter) and
    members no longer matching (to exit). Each is re-checked under its lock."""
    cond = condition(segment.filter, now)
    c, m = audience_customers, audience_members
    member = sa.exists().where(m.c.segment == segment.name, m.c.customer_id == c.c.customer_id)
    entering = sa.select(c.c.customer_id).where(cond, sa.not_(member))
    exiting = (
        sa.select(m.c.customer_id)
        .join(c, c.c.customer_id == m.c.customer_id)
        .where(m.c.segment == segment.name, sa.not_(cond))
    )
    return sa.union_all(entering, exiting)  # type: ignore[return-value]


_PERCENTILES = sa.text(
    """
    UPDATE audience_customers c SET clv_percentile = p.pct
    FROM (
        SELECT customer_id, 100.0 * percent_rank() OVER (ORDER BY clv) AS pct
        FROM audience_customers WHERE clv IS NOT NULL
    ) p
    WHERE c.customer_id = p.customer_id AND c.clv_percentile IS DISTINCT FROM p.pct
    """
)
_UNSCORED = sa.text(
    "UPDATE audience_customers SET clv_percentile = NULL "
    "WHERE clv IS NULL AND clv_percentile IS NOT NULL"
)


async def refresh_percentiles(conn: AsyncConnection) -> int:
    """Rewrites clv_percentile where it moved; returns how many rows changed."""
    moved = (await conn.execute(_PERCENTILES)).rowcount
    cleared = (await conn.execute(_UNSCORED)).rowcount
    return int(moved or 0) + int(cleared or 0)


async def customer_ids_after(conn: AsyncConnection, after: str, limit: int) -> list[str]:
    """A page of the view's customer ids in id order (keyset)."""
    rows = await conn.execute(
        sa.select(audience_customers.c.customer_id)
        .where(audience_customers.c.customer_id > after)
        .order_by(audience_customers.c.customer_id)
        .limit(limit)
    )
    return [r[0] for r in rows]


async def forget(conn: AsyncConnection, ids: Collection[str]) -> None:
    """Deletes these customers' view and memberships (erased customers)."""
    params = {"ids": list(ids)}
    await conn.execute(audience_members.delete().where(_in(audience_members)), params)
    await conn.execute(audience_customers.delete().where(_in(audience_customers)), params)


def _in(table: sa.Table) -> Any:
    return table.c.customer_id.in_(sa.select(sa.func.unnest(_IDS)))
