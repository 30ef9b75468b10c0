"""A poison record as large as the broker takes still reaches its DLQ, and the partition moves
on: the DLQ copy adds headers (the error, up to 4,000 bytes; the group; the origin), so a copy
of a record near the producer's 1 MiB request limit was refused (MessageSizeTooLargeError) and
retried forever, and the partition stopped at it."""

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from clm_cli.dlq import redrive
from shared.failures import describe
from shared.kafka_admin import ensure_topics
from shared.kafka_consumer import BatchConsumer, Decoded, Poison
from shared.kafka_producer import KafkaPublisher
from shared.topics import (
    DLQ_ERROR_HEADER,
    DLQ_ORIGIN_HEADER,
    DLQ_TRUNCATED_HEADER,
    TopicSpec,
    dlq_of,
)
from tests.support.infra import Infrastructure
from tests.support.polling import eventually

LIMIT = 1024 * 1024  # aiokafka's default max_request_size, which every producer here keeps


REFUSED = ValueError("refused: " + "field x is invalid; " * 500)  # as a long validation error


def _decode(record: Any) -> bytes:
    value: bytes = record.value
    if value.startswith(b"ok"):
        return value
    raise REFUSED


async def _committed(bootstrap: str, group: str, topic: str) -> int | None:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        return await reader.committed(TopicPartition(topic, 0))
    finally:
        await reader.stop()


async def _records(bootstrap: str, topic: str) -> list[Any]:
    reader = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
        enable_auto_commit=False, max_partition_fetch_bytes=4 * LIMIT,
    )  # fmt: skip
    await reader.start()
    try:
        records: list[Any] = []
        while batch := await reader.getmany(timeout_ms=2000):
            records += [r for part in batch.values() for r in part]
        return records
    finally:
        await reader.stop()


# The first fits the producer with its own headers, not with the DLQ headers added.
@pytest.mark.parametrize("size", [LIMIT - 500, 300_000])
async def test_a_poison_record_near_the_size_limit_is_dead_lettered_and_the_partition_moves_on(
    infra: Infrastructure, size: int
) -> None:
    topic = f"clm.dlq-size-test-{uuid.uuid4().hex[:8]}.v1"
    await ensure_topics(infra.kafka_bootstrap, 1, [TopicSpec(topic, {}), TopicSpec(dlq_of(topic), {})])  # fmt: skip
    big = b"x" * size
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, big, b"c-1", headers=[("ce_id", b"e-1")])
        await producer.send_and_wait(topic, b"ok after", b"c-1")
    finally:
        await producer.stop()

    handled: list[bytes] = []

    async def handle(batch: list[Decoded[bytes]]) -> list[Poison]:
        handled.extend(d.message for d in batch)
        return []

    group = f"g-{topic}"
    dlq = KafkaPublisher(infra.kafka_bootstrap, "dlq-size-test")
    consumer: BatchConsumer[bytes] = BatchConsumer(
        bootstrap_servers=infra.kafka_bootstrap, topic=topic, group_id=group,
        decode=_decode, handle=handle, dlq=dlq,
    )  # fmt: skip
    task = asyncio.create_task(consumer.run())

    async def moved_on() -> bool:
        committed = await _committed(infra.kafka_bootstrap, group, topic)
        return handled == [b"ok after"] and committed == 2

    try:
        await eventually(
            moved_on, timeout=60, interval=0.5, what="the partition committed past both"
        )
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 30)
        await dlq.stop()
    [dead] = await _records(infra.kafka_bootstrap, dlq_of(topic))
    headers = dict(dead.headers)
    assert headers[DLQ_ORIGIN_HEADER] == f"{topic}/0/0".encode()
    error = describe(REFUSED).encode()
    assert headers[DLQ_ERROR_HEADER] == error[: len(headers[DLQ_ERROR_HEADER])]
    assert len(headers[DLQ_ERROR_HEADER]) >= 100  # the error gives way, never wholly
    assert headers["ce_id"] == b"e-1" and dead.key == b"c-1"
    if size < LIMIT // 2:  # room to spare: the copy is whole, with the whole error
        assert dead.value == big and DLQ_TRUNCATED_HEADER not in headers
        assert headers[DLQ_ERROR_HEADER] == error
    else:  # the error gives way first, then the value is cut, and the copy says so
        assert headers[DLQ_TRUNCATED_HEADER] == str(size).encode()
        assert dead.value == big[: len(dead.value)] and len(dead.value) > size - 1000
        # A redrive publishes the original, read whole from its origin, not the cut copy.
        [planned] = await redrive(infra.kafka_bootstrap, dlq_of(topic), dry_run=False)
        assert planned.groups == (group,)
        [*_, again] = await _records(infra.kafka_bootstrap, topic)
        assert again.value == big and dict(again.headers)["ce_id"] == b"e-1"
        assert DLQ_TRUNCATED_HEADER not in dict(again.headers)
