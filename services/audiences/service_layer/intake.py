"""Use case: a batch of observed messages updates the customers' views and their memberships.

One transaction per batch: dedup rows, views, memberships and their outbox records commit
together; a redelivered message is a no-op (claimed by event id).
"""

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from services.audiences.adapters import store
from services.audiences.domain.customers import CustomerView, Update, UpdateKind, apply
from services.audiences.domain.membership import Reason
from shared.dedup import keep_new
from shared.erasure import default_secret, drop_erased
from shared.kafka_consumer import Decoded, Poison

from .membership import SERVICE, reconcile

Clock = Callable[[], datetime]


class Intake:
    def __init__(
        self, engine: AsyncEngine, clock: Clock, erasure_secret: str | None = None
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._erasure_secret = erasure_secret or default_secret()

    async def handle_changes(self, batch: list[Decoded[Update]]) -> list[Poison]:
        await self.observe([d.message for d in batch], f"{SERVICE}:lifecycle")
        return []

    async def handle_scores(self, batch: list[Decoded[Update]]) -> list[Poison]:
        await self.observe([d.message for d in batch], f"{SERVICE}:scores")
        return []

    async def handle_events(self, batch: list[Decoded[Update]]) -> list[Poison]:
        await self.observe([d.message for d in batch], f"{SERVICE}:events")
        return []

    async def observe(self, updates: Sequence[Update], consumer: str) -> int:
        """Applies the updates in order; returns how many membership changes it published."""
        relevant = [u for u in updates if u.kind is not UpdateKind.NONE]
        if not relevant:
            return 0
        async with self._engine.begin() as conn:
            relevant = await drop_erased(
                conn, relevant, lambda u: u.customer_id, self._erasure_secret, SERVICE
            )
            todo = await keep_new(conn, consumer, relevant, lambda u: u.event_id)
            if not todo:
                return 0
            ids = {u.customer_id for u in todo}
            views = await store.lock_views(conn, ids)
            for u in todo:
                view = views.get(u.customer_id) or CustomerView(u.customer_id)
                views[u.customer_id] = apply(view, u)
            now = self._clock()
            await store.save_views(conn, views.values(), now)
            segments = await store.segments(conn)
            changes = await reconcile(conn, segments, ids, now, Reason.CUSTOMER_CHANGED)
        return len(changes)
