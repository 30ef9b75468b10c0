"""Reading the broker as an operator: consumer lag, partition ranges, group offsets."""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from clm_cli.errors import CliError

CONNECT_TIMEOUT_SECONDS = 10.0
# The consumer groups of the stack's services (notify runs one group per topic it reads).
STACK_GROUPS = {
    "lifecycle": ("clm-lifecycle",),
    "scoring": ("clm-scoring",),
    "notify": ("clm-notify-lifecycle", "clm-notify-events"),
}


def unreachable(bootstrap: str) -> CliError:
    return CliError(f"Kafka at {bootstrap} is not reachable; start the stack with `clm up`.")


@asynccontextmanager
async def consumer(bootstrap: str, group_id: str | None = None) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer without subscriptions (partitions are assigned by the caller)."""
    kafka = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        request_timeout_ms=15000,
    )
    try:
        await asyncio.wait_for(kafka.start(), CONNECT_TIMEOUT_SECONDS)
    except (KafkaError, OSError, TimeoutError) as exc:
        await kafka.stop()
        raise unreachable(bootstrap) from exc
    try:
        yield kafka
    finally:
        await kafka.stop()


@asynccontextmanager
async def admin(bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        await asyncio.wait_for(client.start(), CONNECT_TIMEOUT_SECONDS)
    except (KafkaError, OSError, TimeoutError) as exc:
        await client.close()
        raise unreachable(bootstrap) from exc
    try:
        yield client
    finally:
        await client.close()


async def partitions_of(kafka: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    cluster = await kafka._client.fetch_all_metadata()  # fresh, not the consumer's cache
    partitions = cluster.partitions_for_topic(topic)
    if not partitions:
        raise CliError(f"Topic {topic} does not exist on the broker.")
    return [TopicPartition(topic, p) for p in sorted(partitions)]


async def read_range(
    kafka: AIOKafkaConsumer,
    ranges: dict[TopicPartition, tuple[int, int]],
    timeout_s: float = 60.0,
) -> list[ConsumerRecord]:  # type: ignore[type-arg]
    """Every record with start <= offset < end per partition (the consumer must be assigned)."""
    pending = {tp for tp, (start, end) in ranges.items() if start < end}
    for tp in pending:
        kafka.seek(tp, ranges[tp][0])
    out: list[ConsumerRecord] = []  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout_s
    while pending:
        if time.monotonic() > deadline:
            topic = next(iter(pending)).topic
            raise CliError(f"Reading {topic} did not finish within {timeout_s:.0f} seconds.")
        batch = await kafka.getmany(*pending, timeout_ms=500)
        for tp, records in batch.items():
            out.extend(r for r in records if r.offset < ranges[tp][1])
        for tp in list(pending):
            if await kafka.position(tp) >= ranges[tp][1]:
                pending.discard(tp)
    return out


@dataclass(frozen=True)
class GroupLag:
    group: str
    topic: str
    partitions: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(self.end - self.committed, 0)


async def consumer_lag(bootstrap: str, groups: list[str]) -> dict[str, list[GroupLag]]:
    """Committed offsets against end offsets, per group and topic; [] for a group that never
    committed."""
    result: dict[str, list[GroupLag]] = {}
    async with admin(bootstrap) as client, consumer(bootstrap) as kafka:
        for group in groups:
            try:
                committed = await client.list_consumer_group_offsets(group)
            except KafkaError as exc:
                raise CliError(
                    f"Kafka did not return the offsets of group {group}: {exc}."
                ) from exc
            tps = [tp for tp, meta in committed.items() if meta.offset >= 0]
            ends = await kafka.end_offsets(tps) if tps else {}
            by_topic: dict[str, list[TopicPartition]] = {}
            for tp in tps:
                by_topic.setdefault(tp.topic, []).append(tp)
            result[group] = [
                GroupLag(
                    group=group,
                    topic=topic,
                    partitions=len(parts),
                    committed=sum(committed[tp].offset for tp in parts),
                    end=sum(max(ends[tp], committed[tp].offset) for tp in parts),
                )
                for topic, parts in sorted(by_topic.items())
            ]
    return result
