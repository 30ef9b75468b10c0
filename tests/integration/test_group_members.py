"""Several members of one consumer group in one process (`GroupMembers`) split the partitions
between them: every record is handled once, each customer key by one member, in order."""

import asyncio
import uuid
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord

from shared.kafka_admin import delete_topics, ensure_topics
from shared.kafka_consumer import BatchConsumer, Decoded, GroupMembers, Poison
from shared.kafka_producer import KafkaPublisher
from shared.topics import TopicSpec, dlq_of
from tests.support.infra import Infrastructure
from tests.support.polling import eventually

KEYS, PER_KEY = 24, 25


def _decode(record: ConsumerRecord) -> tuple[str, int]:  # type: ignore[type-arg]
    return record.key.decode(), int(record.value)


def test_a_group_needs_a_member() -> None:
    with pytest.raises(ValueError, match="at least one member"):
        GroupMembers(0, lambda n: pytest.fail("no member is built"))


async def test_members_split_the_partitions_and_handle_every_record_once_in_key_order(
    infra: Infrastructure,
) -> None:
    topic = f"test.members-{uuid.uuid4().hex[:8]}"
    await ensure_topics(
        infra.kafka_bootstrap, 4, [TopicSpec(topic, {}), TopicSpec(dlq_of(topic), {})]
    )
    handled: list[tuple[int, str, int]] = []  # (member, key, sequence) in handling order
    publisher = KafkaPublisher(infra.kafka_bootstrap, "test-members")

    def member(n: int) -> BatchConsumer[tuple[str, int]]:
        async def handle(batch: list[Decoded[tuple[str, int]]]) -> list[Poison]:
            await asyncio.sleep(0)  # another member may run meanwhile, as while awaiting a database
            handled.extend((n, *item.message) for item in batch)
            return []

        return BatchConsumer(
            bootstrap_servers=infra.kafka_bootstrap, topic=topic, group_id=f"g-{topic}",
            decode=_decode, handle=handle, dlq=publisher, max_records=7, client_id=f"m{n}",
        )  # fmt: skip

    group = GroupMembers(2, member)
    task = asyncio.create_task(group.run())
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    try:
        await group.wait_started()

        async def split() -> bool:
            held = [m.assigned_partitions() for m in group.members]
            return all(held) and held[0].isdisjoint(held[1]) and held[0] | held[1] == set(range(4))

        await eventually(split, timeout=60, what="both members holding partitions")
        await producer.start()
        for seq in range(PER_KEY):
            for k in range(KEYS):
                await producer.send(topic, str(seq).encode(), key=f"c{k}".encode())
        await producer.flush()

        async def all_handled() -> bool:
            return len(handled) >= KEYS * PER_KEY

        await eventually(all_handled, timeout=60, what=f"{KEYS * PER_KEY} records handled")
    finally:
        await producer.stop()
        group.stop()
        await task
        await publisher.stop()
        await delete_topics(infra.kafka_bootstrap, [topic, dlq_of(topic)])

    assert len(handled) == KEYS * PER_KEY  # none twice
    members_of: dict[str, set[int]] = defaultdict(set)
    sequences: dict[str, list[int]] = defaultdict(list)
    for n, key, seq in handled:
        members_of[key].add(n)
        sequences[key].append(seq)
    assert all(len(m) == 1 for m in members_of.values()), members_of
    assert {n for n, _, _ in handled} == {0, 1}
    assert all(s == list(range(PER_KEY)) for s in sequences.values()), sequences
