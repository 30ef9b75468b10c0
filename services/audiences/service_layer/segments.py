"""Use cases behind the segments API: define, describe, delete, count, page and export."""

import csv
import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from services.audiences.adapters import store
from services.audiences.adapters.sql_filters import condition
from services.audiences.adapters.tables import (
    audience_customers,
    audience_members,
    audience_segments,
)
from services.audiences.domain.filters import (
    Filter,
    is_time_relative,
    to_json,
    uses_percentile,
)
from services.audiences.domain.membership import Reason, changes_of

from .membership import publish

Clock = Callable[[], datetime]

# What a member row shows: lifecycle state and scores, no personal data (no profile values).
MEMBER_COLUMNS = (
    "customer_id", "entered_at", "stage", "tier", "flags", "clv", "clv_percentile",
    "churn_risk", "p_alive", "health_score", "rfm_segment", "last_purchase_at",
    "purchase_count", "locale",
)  # fmt: skip
EXPORT_CHUNK_ROWS = 2000  # rows per chunk written to the socket (and per cursor fetch)


class SegmentExists(Exception):
    pass


@dataclass(frozen=True)
class SegmentInfo:
    segment: store.Segment
    members: int


class Segments:
    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    async def create(self, name: str, description: str, filter_: Filter) -> SegmentInfo:
        """Stored at once; its members are evaluated in the background (status building)."""
        now = self._clock()
        row = {
            "name": name,
            "description": description,
            "filter": to_json(filter_),
            "time_relative": is_time_relative(filter_),
            "uses_percentile": uses_percentile(filter_),
            "created_at": now,
        }
        async with self._engine.begin() as conn:
            stmt = insert(audience_segments).values(row).on_conflict_do_nothing()
            inserted = (await conn.execute(stmt.returning(audience_segments.c.name))).first()
            if inserted is None:
                raise SegmentExists(name)
            found = await store.segment(conn, name, lock=None)
        assert found is not None
        return SegmentInfo(found, 0)

    async def exists(self, name: str) -> bool:
        async with self._engine.connect() as conn:
            return await store.segment(conn, name, lock=None) is not None

    async def get(self, name: str) -> SegmentInfo | None:
        async with self._engine.connect() as conn:
            found = await store.segment(conn, name, lock=None)
            if found is None:
                return None
            count = await conn.scalar(
                sa.select(sa.func.count()).where(audience_members.c.segment == name)
            )
        return SegmentInfo(found, int(count or 0))

    async def all(self) -> list[SegmentInfo]:
        async with self._engine.connect() as conn:
            found = await store.segments(conn, share_lock=False)
            counts: dict[str, int] = dict(
                (
                    await conn.execute(
                        sa.select(audience_members.c.segment, sa.func.count()).group_by(
                            audience_members.c.segment
                        )
                    )
                ).all()
            )
        return [SegmentInfo(s, int(counts.get(s.name, 0))) for s in found]

    async def delete(self, name: str) -> bool:
        """Every member exits (published, reason segment_deleted), then the segment goes."""
        async with self._engine.begin() as conn:
            found = await store.segment(conn, name, lock="update")
            if found is None:
                return False
            now = self._clock()
            exited = await store.remove_members(conn, name, None)
            await publish(conn, changes_of(name, {}, exited, Reason.SEGMENT_DELETED, now))
            await conn.execute(audience_segments.delete().where(audience_segments.c.name == name))
        return True

    async def count(self, filter_: Filter) -> int:
        """How many customers match the filter now (live, without a segment)."""
        async with self._engine.connect() as conn:
            total = await conn.scalar(
                sa.select(sa.func.count()).where(condition(filter_, self._clock()))
            )
        return int(total or 0)

    async def page(self, name: str, limit: int, after: str | None) -> list[dict[str, Any]]:
        """Members in customer id order after `after` (keyset pagination)."""
        query = _members_query(name)
        if after is not None:
            query = query.where(audience_members.c.customer_id > after)
        async with self._engine.connect() as conn:
            rows = await conn.execute(query.limit(limit))
            return [dict(r._mapping) for r in rows]

    async def export(self, name: str, fmt: str) -> AsyncIterator[bytes]:
        """The members as NDJSON or CSV, streamed from a server-side cursor: memory stays
        that of one chunk, whatever the segment's size."""
        sql, params = _compiled(_members_query(name))
        async with self._engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            async with driver.transaction(readonly=True):
                if fmt == "csv":
                    yield _csv_line(MEMBER_COLUMNS)
                chunk: list[Any] = []
                async for record in driver.cursor(sql, *params, prefetch=EXPORT_CHUNK_ROWS):
                    chunk.append(record)
                    if len(chunk) >= EXPORT_CHUNK_ROWS:
                        yield _encode(chunk, fmt)
                        chunk = []
                if chunk:
                    yield _encode(chunk, fmt)


def _members_query(name: str) -> sa.Select[Any]:
    m, c = audience_members, audience_customers
    columns = [m.c.customer_id, m.c.entered_at] + [c.c[n] for n in MEMBER_COLUMNS[2:]]
    return (
        sa.select(*columns)
        .join(c, c.c.customer_id == m.c.customer_id)
        .where(m.c.segment == name)
        .order_by(m.c.customer_id)
    )


def _compiled(query: sa.Select[Any]) -> tuple[str, list[Any]]:
    """The query as asyncpg takes it: $n placeholders and positional values."""
    from sqlalchemy.dialects import postgresql

    compiled = query.compile(dialect=postgresql.asyncpg.dialect())  # type: ignore[attr-defined]
    names = compiled.positiontup or []
    return str(compiled), [compiled.params[n] for n in names]


def _encode(records: list[Any], fmt: str) -> bytes:
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for r in records:
            writer.writerow([_csv_value(v) for v in r])
        return buffer.getvalue().encode()
    return b"".join(
        orjson.dumps(dict(zip(MEMBER_COLUMNS, r, strict=True))) + b"\n" for r in records
    )


def _csv_line(values: tuple[str, ...]) -> bytes:
    return (",".join(values) + "\n").encode()


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return "|".join(value)  # flags: at_risk|upgrade_candidate
    return value
