"""Consumer lag as `clm status` reports it (issue 18, item 7), on the real broker: an idle group
that consumed everything written in transactions has lag 0 (the commit markers after the last
record are not lag), and a partition the group never committed counts from the log start."""

import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from clm_cli.kafka_ops import consumer_lag
from tests.support.infra import Infrastructure


async def _transactional_writes(bootstrap: str, topic: str) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, transactional_id=f"lag-test-{uuid.uuid4().hex}"
    )
    await producer.start()
    try:
        for batch in range(5):  # five transactions on partition 0, one on partition 1
            async with producer.transaction():
                for i in range(3):
                    await producer.send(topic, f"p0-{batch}-{i}".encode(), partition=0)
        async with producer.transaction():
            for i in range(4):
                await producer.send(topic, f"p1-{i}".encode(), partition=1)
    finally:
        await producer.stop()


async def test_an_idle_group_has_no_lag_and_never_committed_partitions_count(
    infra: Infrastructure,
) -> None:
    bootstrap = infra.kafka_bootstrap
    topic, group = f"test.lag.{uuid.uuid4().hex[:8]}", f"lag-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    await _transactional_writes(bootstrap, topic)

    # The group consumes partition 0 to the end and commits as the services do (offset + 1).
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
        isolation_level="read_committed", auto_offset_reset="earliest",
    )  # fmt: skip
    await consumer.start()
    try:
        p0 = TopicPartition(topic, 0)
        consumer.assign([p0])
        seen: list[int] = []
        while len(seen) < 15:
            for records in (await consumer.getmany(p0, timeout_ms=1000)).values():
                seen += [r.offset for r in records]
        await consumer.commit({p0: seen[-1] + 1})
        log_end = (await consumer.end_offsets([p0]))[p0]
    finally:
        await consumer.stop()
    assert log_end > seen[-1] + 1, "the markers are offsets after the last record"

    [row] = (await consumer_lag(bootstrap, {group: topic}))[group]
    assert row.partitions == 2
    assert row.never_committed == 1
    assert row.lag == 4  # partition 0: nothing; partition 1: its 4 records, never consumed
