"""Use cases: apply a batch of customer events, and re-evaluate customers whose time came due.

Each runs in one database transaction: dedup rows, facts, derived state, transition log and
outbox rows commit together, so a crash anywhere leaves either all of it or none of it.
"""

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.lifecycle.domain import (
    Change,
    CustomerFacts,
    DomainEvent,
    LifecycleRules,
    LifecycleState,
    apply,
    changes_between,
    derive,
)
from shared.cloudevents import from_kafka
from shared.customer_event_codec import from_cloudevent
from shared.dedup import claim_new
from shared.kafka_consumer import Decoded, Poison
from shared.outbox import enqueue

from . import state_store
from .change_events import to_records
from .settings import ClockMode

SERVICE = "lifecycle"
Clock = Callable[[], datetime]


def decode(record: object) -> DomainEvent:
    event = from_cloudevent(from_kafka(record.value, record.headers))  # type: ignore[attr-defined]
    return DomainEvent(
        event_id=event.event_id,
        type=event.type,  # type: ignore[arg-type]
        customer_id=event.customer_id,
        occurred_at=event.occurred_at,
        data=event.data.model_dump(mode="json", exclude_none=True),
    )


class LifecycleProcessor:
    def __init__(
        self,
        engine: AsyncEngine,
        rules: LifecycleRules,
        clock_mode: ClockMode,
        wall_clock: Clock = lambda: datetime.now(UTC),
        consumer: str = "clm-lifecycle",
        outbox_service: str = SERVICE,
    ) -> None:
        self._engine = engine
        self._rules = rules
        self._clock_mode = clock_mode
        self._wall_clock = wall_clock
        self._consumer = consumer
        self._outbox_service = outbox_service

    async def _now(self, conn: AsyncConnection, latest_seen: datetime | None) -> datetime | None:
        if self._clock_mode is ClockMode.EVENT_TIME:
            return await state_store.advance_watermark(conn, latest_seen)
        return self._wall_clock()

    async def handle(self, batch: list[Decoded[DomainEvent]]) -> list[Poison]:
        async with self._engine.begin() as conn:
            fresh_ids = await claim_new(conn, self._consumer, [d.message.event_id for d in batch])
            by_customer: dict[str, list[Decoded[DomainEvent]]] = defaultdict(list)
            for d in batch:
                if d.message.event_id in fresh_ids:
                    by_customer[d.message.customer_id].append(d)
                    fresh_ids.discard(d.message.event_id)  # a repeat inside the batch counts once
            latest = max((d.message.occurred_at for d in batch), default=None)
            now = await self._now(conn, latest)
            if not by_customer or now is None:
                return []
            stored = await state_store.load_for_update(conn, sorted(by_customer))
            results, changes, poison = [], [], []
            for customer_id, items in by_customer.items():
                facts, history = stored.get(customer_id, (CustomerFacts(customer_id), ()))
                try:
                    for item in items:
                        facts = apply(facts, item.message)
                    state = derive(facts, self._rules, now)
                except ValueError as exc:  # facts the rules cannot use: park them, keep going
                    poison += [Poison(item.record, f"ValueError: {exc}") for item in items]
                    continue
                results.append((facts, state))
                changes += changes_between(history, state.history, items[-1].message.event_id)
            await self._write(conn, results, changes)
        return poison

    async def evaluate_due(self, limit: int) -> int:
        """Re-derives customers whose next_due_at has passed; returns how many it evaluated."""
        async with self._engine.begin() as conn:
            now = await self._now(conn, None)
            if now is None:
                return 0
            due = await state_store.claim_due(conn, now, limit)
            results, changes = [], []
            for facts, history in due.values():
                state = derive(facts, self._rules, now)
                results.append((facts, state))
                changes += changes_between(history, state.history)
            await self._write(conn, results, changes)
        return len(due)

    async def _write(
        self,
        conn: AsyncConnection,
        results: list[tuple[CustomerFacts, LifecycleState]],
        changes: list[Change],
    ) -> None:
        await state_store.save(conn, results)
        await state_store.record_changes(conn, changes)
        await enqueue(conn, self._outbox_service, to_records(changes))
