"""Kafka producer wrapper: acks=all, idempotent, compressed, flushed on shutdown, self-healing."""

import asyncio
from collections import Counter
from collections.abc import Coroutine, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from shared.cloudevents import KafkaRecord, ce_type_of
from shared.logging import get_logger
from shared.metrics import EVENTS_PRODUCED

log = get_logger(__name__)


class PublishError(RuntimeError):
    """The broker did not acknowledge every record in time; nothing may be assumed durable."""


class KafkaPublisher:
    """Publishes records and returns only once the broker acknowledged all of them (acks=all).

    The underlying producer is created lazily and replaced after a failure, so the service
    recovers by itself when a broker that was down comes back.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        client_id: str,
        *,
        transactional_id: str | None = None,
        compression: str | None = "lz4",
        linger_ms: int = 5,
        timeout_s: float = 5.0,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._client_id = client_id
        self._transactional_id = transactional_id
        self._compression = compression
        self._linger_ms = linger_ms
        self._timeout_s = timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._start_lock = asyncio.Lock()
        # A transactional producer runs one transaction at a time.
        self._txn_lock = asyncio.Lock()
        # Failed producers being closed in the background (see _discard).
        self._closing: set[asyncio.Task[None]] = set()

    async def _ensure(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._start_lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._bootstrap,
                    client_id=self._client_id,
                    acks="all",
                    enable_idempotence=True,
                    transactional_id=self._transactional_id,
                    compression_type=self._compression,
                    linger_ms=self._linger_ms,
                    max_batch_size=1024 * 1024,
                    request_timeout_ms=int(self._timeout_s * 1000),
                    metadata_max_age_ms=60_000,
                    # A crashed instance's open transaction must not block readers for long.
                    transaction_timeout_ms=15_000,
                )
                try:
                    await asyncio.wait_for(producer.start(), self._timeout_s)
                except BaseException:
                    self._discard(producer)
                    raise
                self._producer = producer
        return self._producer

    @staticmethod
    async def _close_quietly(producer: AIOKafkaProducer) -> None:
        try:
            await asyncio.wait_for(producer.stop(), 5)
        except (TimeoutError, KafkaError, OSError) as exc:
            log.warning("producer_close_failed", error=repr(exc))

    @staticmethod
    async def _abandon(producer: AIOKafkaProducer) -> None:
        """Drops a failed producer's unsent records and closes it without flushing.

        Its callers were already told the records were not accepted (503); stop() would keep
        retrying them and could deliver them once the broker is back, unasked. aiokafka has no
        public abort, hence the private accumulator and sender.
        """
        producer._message_accumulator.fail_all(PublishError("producer abandoned after a failure"))
        producer._closed = True
        try:
            if producer._sender is not None:
                await producer._sender.close()
            await asyncio.wait_for(producer.client.close(), 5)
        except (TimeoutError, KafkaError, OSError) as exc:
            log.warning("producer_close_failed", error=repr(exc))

    def _discard(self, producer: AIOKafkaProducer) -> None:
        """Abandons a failed producer without making the caller wait for it.

        The request that saw the failure gets its 503 now. A transactional successor with the
        same transactional id fences this one when it starts, so its unfinished transaction
        can never be committed.
        """
        task = asyncio.create_task(self._abandon(producer))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _reset(self) -> None:
        producer, self._producer = self._producer, None
        # A transaction abandoned in the background may still hold the old lock; the successor
        # producer (same transactional id) fences it.
        self._txn_lock = asyncio.Lock()
        if producer is not None:
            self._discard(producer)

    async def _within_timeout(self, work: Coroutine[Any, Any, None]) -> None:
        """Runs `work` for at most the publish timeout, cleanup included.

        asyncio.wait_for would wait for the cancelled work to finish: aborting a transaction
        on a broker that is down waits for the broker (a minute), and so did the request. Here
        the caller gets its TimeoutError on time and the cancelled work ends in the background.
        """
        task = asyncio.ensure_future(work)
        done, _ = await asyncio.wait({task}, timeout=self._timeout_s)
        if task in done:
            task.result()
            return
        task.cancel()
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        task.add_done_callback(_consume_outcome)
        raise TimeoutError(f"not acknowledged within {self._timeout_s:g} s")

    async def _locked_transaction(self, records: Sequence[KafkaRecord]) -> None:
        async with self._txn_lock:
            await self._publish_in_transaction(records)

    async def publish(self, records: Sequence[KafkaRecord]) -> None:
        """All records acknowledged, or PublishError (and, if transactional, none visible),
        within the publish timeout."""
        try:
            if self._transactional_id:
                await self._within_timeout(self._locked_transaction(records))
            else:
                await self._within_timeout(self._publish_plain(records))
        except (TimeoutError, KafkaError, OSError) as exc:
            log.warning("publish_failed", error=repr(exc), records=len(records))
            await self._reset()
            raise PublishError(str(exc) or type(exc).__name__) from exc
        produced = Counter((r.topic, ce_type_of(r.headers)) for r in records)
        for (topic, ce_type), n in produced.items():
            EVENTS_PRODUCED.labels(topic, ce_type).inc(n)

    async def publish_tombstone(self, topic: str, key: bytes) -> None:
        """A record with a null value (a tombstone: compaction removes the key), acknowledged
        by the broker, or PublishError. KafkaRecord values stay bytes for every other caller."""
        try:
            if self._transactional_id:
                async with self._txn_lock:
                    producer = await self._ensure()
                    async with producer.transaction():
                        await asyncio.wait_for(
                            await producer.send(topic, None, key=key), self._timeout_s
                        )
            else:
                producer = await self._ensure()
                await asyncio.wait_for(await producer.send(topic, None, key=key), self._timeout_s)
        except (TimeoutError, KafkaError, OSError) as exc:
            log.warning("publish_failed", error=repr(exc), records=1)
            await self._reset()
            raise PublishError(str(exc) or type(exc).__name__) from exc
        EVENTS_PRODUCED.labels(topic, "tombstone").inc()

    async def _publish_plain(self, records: Sequence[KafkaRecord]) -> None:
        producer = await self._ensure()
        if len(records) == 1:
            r = records[0]
            await (await producer.send(r.topic, r.value, key=r.key, headers=r.headers))
            return
        await asyncio.gather(*await _send_batches(producer, records))

    async def _publish_in_transaction(self, records: Sequence[KafkaRecord]) -> None:
        producer = await self._ensure()
        async with producer.transaction():
            # Inside the transaction: a failed produce raises here and the transaction aborts.
            await asyncio.gather(*await _send_batches(producer, records))

    async def ready(self) -> bool:
        try:
            producer = await self._ensure()
            await asyncio.wait_for(producer.client.fetch_all_metadata(), 2)
            return True
        except (TimeoutError, KafkaError, OSError):
            await self._reset()
            return False

    async def stop(self) -> None:
        if self._producer is not None:
            try:
                await asyncio.wait_for(self._producer.flush(), 10)
            except (TimeoutError, KafkaError) as exc:
                log.warning("producer_flush_failed", error=repr(exc))
        producer, self._producer = self._producer, None
        if producer is not None:
            await self._close_quietly(producer)
        if self._closing:
            await asyncio.wait(set(self._closing), timeout=10)


_partitioner = DefaultPartitioner()


def _consume_outcome(task: "asyncio.Task[None]") -> None:
    """Reads the outcome of abandoned work, so asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()


async def _send_batches(
    producer: AIOKafkaProducer, records: Sequence[KafkaRecord]
) -> list["asyncio.Future[object]"]:
    """Queues the records as one closed record batch per partition; returns their futures.

    Equivalent to one `producer.send()` per record (same partitioner, so a key lands on the
    partition `send()` would choose, and the records of a partition keep their order), but the
    records go straight into a batch builder instead of paying `send()`'s per-record await,
    future and accumulator bookkeeping. Closed batches are drained at once, without linger.
    """
    by_partition: dict[tuple[str, int], list[KafkaRecord]] = {}
    partitions: dict[str, tuple[list[int], list[int]]] = {}
    chosen: dict[tuple[str, bytes], int] = {}
    for r in records:
        if r.topic not in partitions:
            every = list(await producer.partitions_for(r.topic))
            available = list(producer.client.cluster.available_partitions_for_topic(r.topic))
            partitions[r.topic] = (every, available)
        if r.key is None:
            partition = _partitioner(None, *partitions[r.topic])
        else:
            partition = chosen.get((r.topic, r.key), -1)
            if partition < 0:
                partition = _partitioner(r.key, *partitions[r.topic])
                chosen[(r.topic, r.key)] = partition
        by_partition.setdefault((r.topic, partition), []).append(r)

    futures: list[asyncio.Future[object]] = []
    for (topic, partition), group in by_partition.items():
        batch = producer.create_batch()
        for r in group:
            if batch.append(key=r.key, value=r.value, timestamp=None, headers=r.headers) is None:
                batch.close()
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                if (
                    batch.append(key=r.key, value=r.value, timestamp=None, headers=r.headers)
                    is None
                ):
                    raise KafkaError(f"record of {len(r.value)} bytes does not fit in a batch")
        batch.close()
        futures.append(await producer.send_batch(batch, topic, partition=partition))
    return futures
