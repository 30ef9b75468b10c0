"""A consumer that cannot make progress for a reason that is not the record (here: its
database has none of its tables, SQLSTATE 42P01) keeps retrying, dead-letters nothing, and
says so: `/readyz` reports the group stuck (still 200: the HTTP API answers) and
`clm_consumer_stuck{group}` is 1."""

import uuid
from collections.abc import AsyncIterator, Callable

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.customer_event_codec import to_kafka_record
from shared.events import customer_event_adapter
from shared.kafka_admin import ensure_topics
from shared.topics import TopicSpec, dlq_of
from tests.support.factories import new_customer, purchase
from tests.support.infra import Infrastructure
from tests.support.polling import eventually
from tests.support.services import ServiceProcess

GROUP = f"clm-stuck-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def empty_database(infra: Infrastructure) -> AsyncIterator[str]:
    """A database on the test server without any migration applied."""
    name = f"clm_stuck_{uuid.uuid4().hex[:8]}"
    dsn = infra.database_url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield infra.database_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _records_in(bootstrap: str, topic: str) -> int:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    try:
        cluster = await reader._client.fetch_all_metadata()
        tps = [TopicPartition(topic, p) for p in cluster.partitions_for_topic(topic) or ()]
        return sum((await reader.end_offsets(tps)).values())
    finally:
        await reader.stop()


async def test_a_consumer_that_cannot_progress_is_reported_stuck_and_dead_letters_nothing(
    infra: Infrastructure, start_service: Callable[..., ServiceProcess], empty_database: str
) -> None:
    topic = f"clm.stuck-test-{uuid.uuid4().hex[:8]}.v1"
    await ensure_topics(infra.kafka_bootstrap, 2, [TopicSpec(topic, {}), TopicSpec(dlq_of(topic), {})])  # fmt: skip
    event = customer_event_adapter.validate_python(purchase(new_customer("stuck")))
    record = to_kafka_record(topic, event)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, record.value, record.key, headers=record.headers)
    finally:
        await producer.stop()

    lifecycle = start_service(
        "lifecycle", ready_within=180, DATABASE_URL=empty_database,
        CLM_LIFECYCLE_EVENTS_TOPIC=topic, CLM_LIFECYCLE_CONSUMER_GROUP=GROUP,
        CLM_LIFECYCLE_RUN_SCHEDULER="false", CLM_CONSUMER_STUCK_AFTER_SECONDS="2",
    )  # fmt: skip

    async with httpx.AsyncClient(base_url=lifecycle.url, timeout=30) as client:

        async def stuck() -> dict[str, object] | None:
            resp = await client.get("/readyz")
            assert resp.status_code == 200, resp.text  # the HTTP API stays in service
            body = resp.json()
            return body if GROUP in body.get("consumers_stuck", []) else None

        body = await eventually(stuck, timeout=90, interval=0.5, what=f"{GROUP} reported stuck")
        [member] = body["consumers"][GROUP]["members"]  # type: ignore[index]
        assert member["stuck"] is True and member["attempts"] >= 1
        assert "SQLSTATE 42P01" in member["last_error"]
        metrics = (await client.get("/metrics")).text
        assert f'clm_consumer_stuck{{group="{GROUP}"}} 1.0' in metrics

    assert await _records_in(infra.kafka_bootstrap, dlq_of(topic)) == 0  # never dead-lettered
