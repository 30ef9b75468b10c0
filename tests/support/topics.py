"""Reads what services published, as an independent consumer would."""

import asyncio
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition


class TopicTail:
    """Remembers the end of every partition at creation; reads only what comes after
    (or everything, with from_beginning)."""

    def __init__(self, bootstrap: str, topic: str, *, from_beginning: bool = False) -> None:
        self.topic = topic
        self._from_beginning = from_beginning
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed"
        )
        self.records: list[ConsumerRecord] = []  # type: ignore[type-arg]

    async def __aenter__(self) -> "TopicTail":
        await self._consumer.start()
        cluster = await self._consumer._client.fetch_all_metadata()
        partitions = cluster.partitions_for_topic(self.topic) or set()
        tps = [TopicPartition(self.topic, p) for p in partitions]
        self._consumer.assign(tps)
        if self._from_beginning:
            await self._consumer.seek_to_beginning(*tps)
        else:
            await self._consumer.seek_to_end(*tps)
        for tp in tps:
            await self._consumer.position(tp)  # resolve the lazy seek now, before anything is sent
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def collect(
        self,
        keep: Callable[[ConsumerRecord], bool],  # type: ignore[type-arg]
        until: Callable[[list[ConsumerRecord]], bool],  # type: ignore[type-arg]
        timeout: float = 30.0,
    ) -> list[ConsumerRecord]:  # type: ignore[type-arg]
        deadline = time.monotonic() + timeout
        kept = [r for r in self.records if keep(r)]
        while not until(kept):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out reading {self.topic}; kept {len(kept)} records")
            batch = await self._consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                self.records.extend(recs)
                kept.extend(r for r in recs if keep(r))
            await asyncio.sleep(0)
        return kept


async def start_group_at_end(bootstrap: str, group: str, topics: list[str]) -> None:
    """Commits the end of every partition for `group`, so a service started with that group
    reads only what is published from now on."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        tps = [TopicPartition(t, p) for t in topics for p in cluster.partitions_for_topic(t) or ()]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.commit(dict(ends.items()))
    finally:
        await consumer.stop()
