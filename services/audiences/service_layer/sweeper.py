"""Use case: memberships that change without a message about the customer.

- A new segment is built: every matching customer enters (reason segment_created).
- Time passes: a purchase window (`within_days`, `older_than_days`) moves past customers, and
  the CLV percentiles move as other customers' CLVs do; such segments are re-evaluated every
  `interval` (reason time_passed), after the percentiles are recomputed.

Only candidates are re-checked (matching non-members, non-matching members: one query), in
chunks, each chunk a transaction that locks its customers like a consumer batch does.

Each time sweep first forgets the customers erased since audiences saw them (their view and
memberships), so no personal data (locale, profile attributes) outlives an erasure here.
"""

import time
import zlib
from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.audiences.adapters import store
from services.audiences.domain.membership import Reason
from shared.erasure import ERASURE_LOCK, default_secret, erased_among
from shared.logging import get_logger

from .membership import reconcile
from .metrics import SWEEP_SECONDS

log = get_logger(__name__)


async def lock_for_batch(conn: AsyncConnection) -> None:
    """The consumers' shared erasure lock: an erasure in flight commits first."""
    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock_shared(ERASURE_LOCK)))


Clock = Callable[[], datetime]


class Sweeper:
    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        chunk_size: int = 2000,
        erasure_secret: str | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._chunk = chunk_size
        self._erasure_secret = erasure_secret or default_secret()

    async def purge_erased(self) -> int:
        """Deletes the view and memberships of customers erased since they were seen (the
        erasure records a keyed hash only: each id is checked, a chunk at a time). No exit is
        published: that would put the erased id back on Kafka. Returns how many it removed."""
        removed, after = 0, ""
        while True:
            async with self._engine.begin() as conn:
                ids = await store.customer_ids_after(conn, after, self._chunk)
                if not ids:
                    return removed
                await lock_for_batch(conn)
                erased = await erased_among(conn, ids, self._erasure_secret)
                if erased:
                    await store.forget(conn, erased)
                    removed += len(erased)
            after = ids[-1]

    async def build_pending(self) -> bool:
        """Builds the segments created since the last tick; False: nothing left waiting."""
        async with self._engine.connect() as conn:
            pending = [s for s in await store.segments(conn, share_lock=False) if not s.built_at]
        for segment in pending:
            changes = await self.sweep(segment.name, Reason.SEGMENT_CREATED)
            log.info("segment_built", segment=segment.name, entered=changes)
        return False

    async def sweep_time(self) -> bool:
        """Refreshes CLV percentiles, then re-evaluates the segments that depend on the clock
        or on the percentiles."""
        purged = await self.purge_erased()
        if purged:
            log.info("erased_customers_purged", customers=purged)
        async with self._engine.connect() as conn:
            found = await store.segments(conn, share_lock=False)
        due = [s for s in found if s.built_at and (s.time_relative or s.uses_percentile)]
        if any(s.uses_percentile for s in found):
            async with self._engine.begin() as conn:
                await store.refresh_percentiles(conn)
        for segment in due:
            await self.sweep(segment.name, Reason.TIME_PASSED)
        return False

    async def sweep(self, name: str, reason: Reason) -> int:
        """Re-evaluates one segment's candidates; returns how many changes it published."""
        started = time.perf_counter()
        now = self._clock()
        published = 0
        async with self._engine.connect() as reader, reader.begin():
            # (a server-side cursor lives in a transaction)
            found = await store.segment(reader, name, lock=None)
            if found is None:
                return 0
            # One instance sweeps a segment at a time; the others skip it this round.
            lock = sa.func.pg_try_advisory_xact_lock(zlib.crc32(f"audiences:{name}".encode()))
            if not await reader.scalar(sa.select(lock)):
                return 0
            result = await reader.stream(store.candidates_query(found, now))
            async for part in result.partitions(self._chunk):
                ids: list[str] = [str(row[0]) for row in part]
                async with self._engine.begin() as conn:
                    segment = await store.segment(conn, name)  # deleted meanwhile: stop
                    if segment is None:
                        return published
                    locked = await store.lock_customers(conn, ids)
                    published += len(await reconcile(conn, [segment], locked, now, reason))
        async with self._engine.begin() as conn:
            times = {"swept_at": now} if reason is Reason.TIME_PASSED else {"built_at": now}
            await store.mark_segment(conn, name, **times)
        SWEEP_SECONDS.observe(time.perf_counter() - started)
        return published
