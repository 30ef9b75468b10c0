"""A member hands each batch over with how far it has read each partition it holds
(`shared.partition_progress`): lifecycle's event-time clock waits for partitions with a
backlog, and must not wait for one read to its end."""

import asyncio
import uuid

from aiokafka import AIOKafkaProducer, ConsumerRecord

from shared.kafka_admin import delete_topics, ensure_topics
from shared.kafka_consumer import BatchConsumer, Decoded, Poison
from shared.kafka_producer import KafkaPublisher
from shared.partition_progress import PartitionProgress, batch_progress
from shared.topics import TopicSpec, dlq_of
from tests.support.infra import Infrastructure
from tests.support.polling import eventually

RECORDS = 6


def _decode(record: ConsumerRecord) -> int:  # type: ignore[type-arg]
    return int(record.value)


async def test_each_batch_says_which_partitions_still_have_a_backlog(
    infra: Infrastructure,
) -> None:
    topic = f"test.progress-{uuid.uuid4().hex[:8]}"
    await ensure_topics(
        infra.kafka_bootstrap, 2, [TopicSpec(topic, {}), TopicSpec(dlq_of(topic), {})]
    )
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:
        for n in range(RECORDS):  # all in partition 0; partition 1 stays empty
            await producer.send(topic, str(n).encode(), partition=0)
        await producer.flush()
    finally:
        await producer.stop()

    seen: list[tuple[list[int], PartitionProgress | None]] = []

    async def handle(batch: list[Decoded[int]]) -> list[Poison]:
        seen.append(([d.message for d in batch], batch_progress()))
        return []

    publisher = KafkaPublisher(infra.kafka_bootstrap, "test-progress")
    consumer: BatchConsumer[int] = BatchConsumer(
        bootstrap_servers=infra.kafka_bootstrap, topic=topic, group_id=f"g-{topic}",
        decode=_decode, handle=handle, dlq=publisher, max_records=2, reports_progress=True,
    )  # fmt: skip
    task = asyncio.create_task(consumer.run())
    try:

        async def all_handled() -> bool:
            return sum(len(values) for values, _ in seen) >= RECORDS

        await eventually(all_handled, timeout=60, what=f"{RECORDS} records handled")
    finally:
        consumer.stop()
        await task
        await publisher.stop()
        await delete_topics(infra.kafka_bootstrap, [topic, dlq_of(topic)])

    assert batch_progress() is None  # only inside a batch's handling
    first, last = seen[0][1], seen[-1][1]
    assert first is not None and last is not None
    assert first.topic == topic
    assert first.caught_up == {0: False, 1: True}  # records left in 0; 1 is empty
    assert last.caught_up == {0: True, 1: True}
    assert [v for values, _ in seen for v in values] == list(range(RECORDS))
