"""Use cases behind the segments API: define, describe, delete, count, page and export."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
EXPORT_QUEUE_CHUNKS = 8  # chunks of the database's stream held between it and the client


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
            exited = await store.remove_members(conn, name)
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
        query = members_query(name)
        if after is not None:
            query = query.where(audience_members.c.customer_id > after)
        async with self._engine.connect() as conn:
            rows = await conn.execute(query.limit(limit))
            return [dict(r._mapping) for r in rows]

    async def export(self, name: str, fmt: str) -> AsyncIterator[bytes]:
        """The members as NDJSON or CSV in customer id order. PostgreSQL encodes the rows and
        streams them (COPY ... TO STDOUT); a bounded queue between that stream and the
        response keeps memory at a few chunks whatever the segment's size, and makes a slow
        reader slow the database's stream down rather than pile it up here."""
        chunks: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=EXPORT_QUEUE_CHUNKS)

        async def forward(data: bytearray) -> None:
            await chunks.put(bytes(data))  # the driver's buffer, copied: it may be reused

        async def produce() -> None:
            try:
                async with self._engine.connect() as conn:
                    raw = await conn.get_raw_connection()
                    driver: Any = raw.driver_connection
                    await driver.copy_from_query(
                        EXPORT_SQL[fmt], name, output=forward, **EXPORT_FORMAT[fmt]
                    )
            finally:
                await chunks.put(None)

        producer = asyncio.create_task(produce())
        try:
            while (chunk := await chunks.get()) is not None:
                yield chunk
            await producer  # its error, if it failed, ends the response early
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer


def members_query(name: str) -> sa.Select[Any]:
    m, c = audience_members, audience_customers
    columns = [m.c.customer_id, m.c.entered_at] + [c.c[n] for n in MEMBER_COLUMNS[2:]]
    return (
        sa.select(*columns)
        .join(c, c.c.customer_id == m.c.customer_id)
        .where(m.c.segment == name)
        .order_by(m.c.customer_id)
    )


def _export_sql(select_list: str) -> str:
    return (
        f"SELECT {select_list} FROM audience_members m "
        "JOIN audience_customers c ON c.customer_id = m.customer_id "
        "WHERE m.segment = $1 ORDER BY m.customer_id"
    )


def _rfc3339(column: str) -> str:
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""


_CSV_COLUMNS = {
    "customer_id": "m.customer_id",
    "entered_at": _rfc3339("m.entered_at"),
    "flags": "array_to_string(c.flags, '|')",  # at_risk|upgrade_candidate
    "last_purchase_at": _rfc3339("c.last_purchase_at"),
}
EXPORT_SQL = {
    "csv": _export_sql(
        ", ".join(f"{_CSV_COLUMNS.get(n, f'c.{n}')} AS {n}" for n in MEMBER_COLUMNS)
    ),
    # One JSON object per row, as text (json_build_object writes times as RFC 3339).
    "ndjson": _export_sql(
        "json_build_object("
        + ", ".join(
            f"'{n}', {'m' if n in ('customer_id', 'entered_at') else 'c'}.{n}"
            for n in MEMBER_COLUMNS
        )
        + ")::text"
    ),
}
# NDJSON through COPY's CSV format: with quote and delimiter characters that JSON text never
# holds raw (PostgreSQL's json escapes every control character), each line is the object as is.
EXPORT_FORMAT: dict[str, dict[str, Any]] = {
    "csv": {"format": "csv", "header": True},
    "ndjson": {"format": "csv", "quote": "\x01", "delimiter": "\x02"},
}
