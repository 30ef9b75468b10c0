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
# The consumer groups of the stack's services and the topic each reads (notify runs one group
# per topic it reads).
STACK_GROUPS: dict[str, dict[str, str]] = {
    "lifecycle": {"clm-lifecycle": "clm.customer-events.v1"},
    "scoring": {"clm-scoring": "clm.customer-events.v1"},
    "notify": {
        "clm-notify-lifecycle": "clm.lifecycle-changes.v1",
        "clm-notify-events": "clm.customer-events.v1",
        "clm-notify-scores": "clm.customer-scores.v1",
    },
}
# How far back from the end to look for the last record that holds data (doubled as needed).
_TAIL_WINDOW = 64


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
    """One group on one topic, summed over the topic's partitions.

    committed: the group's committed positions; a partition it never committed counts from the
    log start (where the group will begin, auto_offset_reset=earliest). end: the offset after
    the last record that holds data (read_committed), not the log end: the transaction
    markers after the last record are offsets no consumer ever receives, so an idle group has
    lag 0. `never_committed` counts the partitions with data the group has not committed yet.
    """

    group: str
    topic: str
    partitions: int
    committed: int
    end: int
    never_committed: int = 0

    @property
    def lag(self) -> int:
        return max(self.end - self.committed, 0)


async def data_end(kafka: AIOKafkaConsumer, tp: TopicPartition, start: int, end: int) -> int:
    """The offset after the last committed data record in [start, end), or `start` when that
    range holds only control markers and aborted records (the consumer must be assigned)."""
    window = _TAIL_WINDOW
    while True:
        low = max(start, end - window)
        records = await read_range(kafka, {tp: (low, end)}, timeout_s=30)
        if records:
            return max(r.offset for r in records) + 1
        if low == start:
            return start
        window *= 4


async def consumer_lag(bootstrap: str, groups: dict[str, str]) -> dict[str, list[GroupLag]]:
    """Per group (each reading one topic): committed positions against the last data offset."""
    result: dict[str, list[GroupLag]] = {}
    async with admin(bootstrap) as client, consumer(bootstrap) as kafka:
        for group, topic in groups.items():
            try:
                committed = await client.list_consumer_group_offsets(group)
            except KafkaError as exc:
                raise CliError(
                    f"Kafka did not return the offsets of group {group}: {exc}."
                ) from exc
            tps = await partitions_of(kafka, topic)
            kafka.assign(tps)
            starts = await kafka.beginning_offsets(tps)
            ends = await kafka.end_offsets(tps)  # the last stable offset (read_committed)
            position, total_end, fresh = 0, 0, 0
            for tp in tps:
                meta = committed.get(tp)
                done = meta.offset if meta is not None and meta.offset >= 0 else None
                begin = starts[tp] if done is None else max(done, starts[tp])
                last = await data_end(kafka, tp, begin, ends[tp]) if ends[tp] > begin else begin
                if done is None and last > begin:
                    fresh += 1
                position += begin
                total_end += last
            result[group] = [GroupLag(group, topic, len(tps), position, total_end, fresh)]
    return result
