"""The event-time clock's rows: the clock itself (one row, never moving backwards) and how far
each partition of the events topic has been read."""

from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.lifecycle.domain.event_clock import PartitionClock, low_watermark

from .tables import partition_clocks, watermark


async def advance_watermark(conn: AsyncConnection, seen: datetime | None) -> datetime | None:
    """The event-time clock, moved to `seen` if that is later (it never moves backwards)."""
    if seen is not None:
        stmt = insert(watermark).values(id=1, event_time=seen)
        upsert = stmt.on_conflict_do_update(
            index_elements=["id"],
            set_={"event_time": sa.func.greatest(watermark.c.event_time, stmt.excluded.event_time)},
        ).returning(watermark.c.event_time)
        moved: datetime | None = await conn.scalar(upsert)
        return moved
    value: datetime | None = await conn.scalar(
        sa.select(watermark.c.event_time).where(watermark.c.id == 1)
    )
    return value


async def advance_by_partitions(
    conn: AsyncConnection,
    topic: str,
    latest: Mapping[int, datetime | None],
    caught_up: Mapping[int, bool],
) -> datetime | None:
    """Records how far this member has read its partitions (`latest`: what a batch brought
    from each, `caught_up`: every partition it holds), then moves the clock to the low
    watermark of all members' partitions of `topic`."""
    if caught_up:
        stmt = insert(partition_clocks).values(
            [
                {"topic": topic, "partition": p, "latest": latest.get(p), "caught_up": done}
                for p, done in sorted(caught_up.items())  # one lock order between members
            ]
        )
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["topic", "partition"],
                set_={
                    "latest": sa.func.greatest(
                        partition_clocks.c.latest, stmt.excluded.latest
                    ),  # greatest() skips NULLs
                    "caught_up": stmt.excluded.caught_up,
                },
            )
        )
    rows = await conn.execute(
        sa.select(
            partition_clocks.c.partition, partition_clocks.c.latest, partition_clocks.c.caught_up
        ).where(partition_clocks.c.topic == topic)
    )
    front = low_watermark(PartitionClock(*row) for row in rows)
    return await advance_watermark(conn, front)
