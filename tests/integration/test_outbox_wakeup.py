"""The outbox relay publishes a committed row at once, not at its next poll (issue 19,
end-to-end latency): the commit NOTIFYs the relay (trigger of migration 0014_h9), which
LISTENs on its own connection. The poll interval here is 30 s, so only the wake-up can
deliver the second row within the few seconds the test allows."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.cloudevents import KafkaRecord
from shared.db import make_engine
from shared.kafka_producer import KafkaPublisher
from shared.outbox import OutboxRelay, enqueue
from tests.support.infra import Infrastructure
from tests.support.polling import eventually

POLL_SECONDS = 30.0
WITHIN_SECONDS = 5.0  # far below the poll interval, with room for a busy shared machine


@pytest.fixture
async def topic(infra: Infrastructure) -> AsyncIterator[str]:
    name = f"test.outbox-wake.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
        yield name
        await admin.delete_topics([name])
    finally:
        await admin.close()


async def test_a_committed_outbox_row_is_published_long_before_the_next_poll(
    infra: Infrastructure, topic: str
) -> None:
    engine = make_engine(infra.database_url, pool_size=2)
    publisher = KafkaPublisher(infra.kafka_bootstrap, "test-outbox-wake")
    service = f"wake-{uuid.uuid4().hex[:8]}"
    relay = OutboxRelay(engine, publisher, service, idle_interval_s=POLL_SECONDS)
    reader = AIOKafkaConsumer(
        bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest",
        enable_auto_commit=False,
    )  # fmt: skip
    await reader.start()
    reader.assign([TopicPartition(topic, 0)])
    seen: dict[bytes, float] = {}

    async def read(key: bytes) -> bool:
        for records in (await reader.getmany(timeout_ms=100)).values():
            seen.update((r.key, time.monotonic()) for r in records if r.key)
        return key in seen

    async def write(key: bytes) -> float:
        async with engine.begin() as conn:
            await enqueue(conn, service, [KafkaRecord(topic, key, b"{}", [("ce_id", key)])])
        return time.monotonic()  # committed

    running = asyncio.create_task(relay.run())
    try:
        # The first row goes out on the relay's first pass, whenever it starts listening.
        await write(b"first")
        await eventually(lambda: read(b"first"), timeout=30, what="the first row on the topic")
        committed = await write(b"second")
        await eventually(
            lambda: read(b"second"), timeout=WITHIN_SECONDS, interval=0.02,
            what=f"the second row within {WITHIN_SECONDS} s (the relay polls every {POLL_SECONDS} s)",
        )  # fmt: skip
        assert seen[b"second"] - committed < WITHIN_SECONDS
    finally:
        relay.stop()
        await asyncio.wait_for(running, 10)
        await reader.stop()
        await publisher.stop()
        await engine.dispose()


async def _idle_passes(relay: OutboxRelay, seconds: float, *, after_listening: bool) -> int:
    """How many times the idle relay read the outbox in `seconds`, counted from its start or,
    with `after_listening`, from when its LISTEN connection was up."""
    passes = 0
    read = relay.relay_once

    async def counted() -> int:
        nonlocal passes
        passes += 1
        return await read()

    relay.relay_once = counted  # type: ignore[method-assign]
    running = asyncio.create_task(relay.run())
    try:
        if after_listening:
            await asyncio.wait_for(relay.listening.wait(), 30)
            await asyncio.sleep(0.2)  # the pass its start of listening asks for
            passes = 0
        await asyncio.sleep(seconds)  # the span being measured, not synchronisation
        return passes
    finally:
        relay.stop()
        await asyncio.wait_for(running, 10)


async def test_an_idle_relay_reads_the_outbox_rarely_while_it_listens(
    infra: Infrastructure,
) -> None:
    """Commits wake a listening relay, so its poll is only a backstop (every
    LISTENING_POLL_SECONDS = 1 s); without LISTEN it polls every idle_interval_s."""
    engine = make_engine(infra.database_url, pool_size=4)
    publisher = KafkaPublisher(infra.kafka_bootstrap, "test-outbox-idle")
    try:
        listening = OutboxRelay(engine, publisher, f"idle-{uuid.uuid4().hex[:8]}", 10, 0.05)
        polling = OutboxRelay(
            engine, publisher, f"idle-{uuid.uuid4().hex[:8]}", 10, 0.05, listen=False
        )
        listened, polled = await asyncio.gather(
            _idle_passes(listening, 3.0, after_listening=True),
            _idle_passes(polling, 3.0, after_listening=False),
        )
        assert polled >= 15, f"a relay without LISTEN read the outbox {polled} times in 3 s"
        assert listened <= 4, f"a listening relay read the outbox {listened} times in 3 s"
    finally:
        await publisher.stop()
        await engine.dispose()
