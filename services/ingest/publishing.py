"""Publishes accepted events: single events idempotently, batches in one Kafka transaction each."""

import asyncio
from collections.abc import Sequence

from shared.customer_event_codec import to_kafka_record
from shared.events import CustomerEvent
from shared.kafka_producer import KafkaPublisher, PublishError
from shared.logging import current_traceparent

from .recent_ids import RecentEventIds
from .settings import IngestSettings


def _traceparent() -> bytes | None:
    """The request's trace context, carried by each record as the `traceparent` extension."""
    value = current_traceparent()
    return value.encode() if value else None


class EventPublishing:
    def __init__(self, settings: IngestSettings) -> None:
        common = {
            "bootstrap_servers": settings.kafka_bootstrap_servers,
            "compression": settings.compression,
            "timeout_s": settings.publish_timeout_seconds,
        }
        self.single = KafkaPublisher(
            client_id="clm-ingest",
            linger_ms=settings.single_linger_ms,
            **common,  # type: ignore[arg-type]
        )
        self._pool: asyncio.Queue[KafkaPublisher] = asyncio.Queue()
        self._transactional = [
            KafkaPublisher(
                client_id=f"clm-ingest-tx-{n}",
                transactional_id=f"clm-ingest-{settings.instance_id}-{n}",
                **common,  # type: ignore[arg-type]
            )
            for n in range(settings.transactional_producers)
        ]
        for publisher in self._transactional:
            self._pool.put_nowait(publisher)
        self.recent = RecentEventIds(settings.recent_ids_capacity)
        self._topic = settings.topic
        self._timeout_s = settings.publish_timeout_seconds

    def fresh(self, events: Sequence[CustomerEvent]) -> list[CustomerEvent]:
        """Drops events whose id was published recently or repeats earlier in the same request."""
        seen: set[str] = set()
        out = []
        for event in events:
            if event.event_id in self.recent or event.event_id in seen:
                continue
            seen.add(event.event_id)
            out.append(event)
        return out

    async def publish_one(self, event: CustomerEvent) -> None:
        record = to_kafka_record(self._topic, event, _traceparent())
        await self.single.publish([record])
        self.recent.remember([event.event_id])

    async def publish_batch(self, events: Sequence[CustomerEvent]) -> None:
        topic = self._topic
        trace = _traceparent()
        records = [to_kafka_record(topic, e, trace) for e in events]
        try:
            # Every producer busy (each for at most the timeout): wait no longer than that.
            publisher = await asyncio.wait_for(self._pool.get(), self._timeout_s)
        except TimeoutError as exc:
            raise PublishError("every transactional producer is busy") from exc
        try:
            await publisher.publish(records)
        finally:
            self._pool.put_nowait(publisher)
        self.recent.remember(e.event_id for e in events)

    async def ready(self) -> bool:
        return await self.single.ready()

    async def stop(self) -> None:
        for publisher in [self.single, *self._transactional]:
            await publisher.stop()
