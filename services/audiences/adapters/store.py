"""Reads and writes of the customer view, the segments and their members (PostgreSQL)."""

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.audiences.domain.customers import CustomerView
from services.audiences.domain.filters import Filter, parse_filter

from .sql_filters import condition
from .tables import audience_customers, audience_members, audience_segments

_VIEW_COLUMNS = (
    "stage", "tier", "clv", "churn_risk", "p_alive", "health_score", "rfm_segment", "scored_at",
    "last_purchase_at", "purchase_count", "locale", "attributes", "profile_at",
)  # fmt: skip
_IDS = sa.bindparam("ids", type_=ARRAY(sa.String))


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


async def lock_views(conn: AsyncConnection, ids: Collection[str]) -> dict[str, CustomerView]:
    """The views of these customers, locked for this transaction (in id order: no deadlock
    with another batch or a sweep, which lock in the same order)."""
    rows = await conn.execute(
        sa.select(audience_customers)
        .where(audience_customers.c.customer_id == sa.any_(_IDS))
        .order_by(audience_customers.c.customer_id)
        .with_for_update(),
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


async def save_views(conn: AsyncConnection, views: Iterable[CustomerView], now: datetime) -> None:
    rows = [
        {
            "customer_id": v.customer_id,
            "flags": sorted(v.flags),
            "updated_at": now,
            **{name: getattr(v, name) for name in _VIEW_COLUMNS},
        }
        for v in sorted(views, key=lambda v: v.customer_id)
    ]
    if not rows:
        return
    stmt = insert(audience_customers)
    changed = {name: stmt.excluded[name] for name in (*_VIEW_COLUMNS, "flags", "updated_at")}
    await conn.execute(
        stmt.on_conflict_do_update(index_elements=["customer_id"], set_=changed), rows
    )


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
        .where(audience_customers.c.customer_id == sa.any_(_IDS))
        .order_by(audience_customers.c.customer_id)
        .with_for_update(read=True),
        {"ids": sorted(ids)},
    )
    return [r[0] for r in rows]


async def memberships(
    conn: AsyncConnection, ids: Collection[str]
) -> dict[str, dict[str, datetime]]:
    """segment -> {customer -> entered_at} for these customers."""
    rows = await conn.execute(
        sa.select(audience_members).where(audience_members.c.customer_id == sa.any_(_IDS)),
        {"ids": list(ids)},
    )
    found: dict[str, dict[str, datetime]] = {}
    for r in rows:
        found.setdefault(r.segment, {})[r.customer_id] = r.entered_at
    return found


async def matching(
    conn: AsyncConnection, segment: Segment, ids: Collection[str], now: datetime
) -> set[str]:
    rows = await conn.execute(
        sa.select(audience_customers.c.customer_id).where(
            audience_customers.c.customer_id == sa.any_(_IDS), condition(segment.filter, now)
        ),
        {"ids": list(ids)},
    )
    return {r[0] for r in rows}


async def add_members(
    conn: AsyncConnection, segment: str, ids: Collection[str], at: datetime
) -> dict[str, datetime]:
    """The customers really added (another transaction may have been first)."""
    if not ids:
        return {}
    stmt = (
        insert(audience_members)
        .values([{"segment": segment, "customer_id": c, "entered_at": at} for c in sorted(ids)])
        .on_conflict_do_nothing()
        .returning(audience_members.c.customer_id, audience_members.c.entered_at)
    )
    return {r[0]: r[1] for r in await conn.execute(stmt)}


async def remove_members(
    conn: AsyncConnection, segment: str, ids: Collection[str] | None
) -> dict[str, datetime]:
    """The customers really removed, with when they had entered (None: every member)."""
    stmt = audience_members.delete().where(audience_members.c.segment == segment)
    params: dict[str, Any] = {}
    if ids is not None:
        if not ids:
            return {}
        stmt = stmt.where(audience_members.c.customer_id == sa.any_(_IDS))
        params = {"ids": list(ids)}
    returning = stmt.returning(audience_members.c.customer_id, audience_members.c.entered_at)
    return {r[0]: r[1] for r in await conn.execute(returning, params)}


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
