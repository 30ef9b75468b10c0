"""A batch brings a slice of every partition with a backlog, not one partition's backlog after
another: the event-time clock moves to a batch's latest event, so a batch holding one
partition's whole year would run every other partition's customers' clocks past events they
have not read yet (each then replays as a late correction instead of folding in order)."""

import asyncio
import uuid

from aiokafka import AIOKafkaProducer, ConsumerRecord

from shared.kafka_admin import delete_topics, ensure_topics
from shared.kafka_consumer import BatchConsumer, Decoded, Poison
from shared.kafka_producer import KafkaPublisher
from shared.topics import TopicSpec, dlq_of
from tests.support.infra import Infrastructure
from tests.support.polling import eventually

PARTITIONS, PER_PARTITION, RECORD_BYTES = 4, 400, 4096
FETCH_MAX_BYTES = 1024 * 1024  # a quarter of one partition's backlog


def _partition(record: ConsumerRecord) -> int:  # type: ignore[type-arg]
    return int(record.partition)


async def test_the_first_batch_holds_records_of_every_partition_with_a_backlog(
    infra: Infrastructure,
) -> None:
    topic = f"test.spans-{uuid.uuid4().hex[:8]}"
    await ensure_topics(
        infra.kafka_bootstrap, PARTITIONS, [TopicSpec(topic, {}), TopicSpec(dlq_of(topic), {})]
    )
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    publisher = KafkaPublisher(infra.kafka_bootstrap, "test-spans")
    batches: list[set[int]] = []

    async def handle(batch: list[Decoded[int]]) -> list[Poison]:
        batches.append({item.message for item in batch})
        return []

    consumer = BatchConsumer(
        bootstrap_servers=infra.kafka_bootstrap, topic=topic, group_id=f"g-{topic}",
        decode=_partition, handle=handle, dlq=publisher, max_records=100_000,
        fetch_max_bytes=FETCH_MAX_BYTES,
    )  # fmt: skip
    task: asyncio.Task[None] | None = None
    try:
        await producer.start()
        for _ in range(PER_PARTITION):  # the whole backlog first, as a replay or backfill has it
            for partition in range(PARTITIONS):
                await producer.send(topic, b"x" * RECORD_BYTES, partition=partition)
        await producer.flush()
        task = asyncio.create_task(consumer.run())

        async def a_batch() -> bool:
            return bool(batches)

        await eventually(a_batch, timeout=60, what="the first batch")
    finally:
        consumer.stop()
        if task is not None:
            await task
        await producer.stop()
        await publisher.stop()
        await delete_topics(infra.kafka_bootstrap, [topic, dlq_of(topic)])

    assert batches[0] == set(range(PARTITIONS))
