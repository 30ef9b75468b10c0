"""The event-time clock of a backfill waits for the partitions still being read.

A batch may hold a long stretch of one partition. Before, the clock moved to that batch's
latest event, so customers of the other partitions churned (and were told so) before their
own, earlier events had been read, and each such event then published a correction. Runs
`LifecycleProcessor.handle` in event_time mode on copies of the lifecycle tables, each batch
handed over with its member's partition progress as `BatchConsumer` hands it.
"""

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer, ConsumerRecord
from sqlalchemy.ext.asyncio import create_async_engine

from services.lifecycle.adapters.tables import (
    customers,
    partition_clocks,
    transitions,
    watermark,
)
from services.lifecycle.domain import load_rules
from services.lifecycle.service_layer.processing import LifecycleProcessor, domain_event
from services.lifecycle.settings import DEFAULT_RULES, ClockMode
from shared.cloudevents import to_kafka
from shared.customer_event_codec import to_cloudevent
from shared.events import customer_event_adapter
from shared.kafka_admin import delete_topics, ensure_topics
from shared.kafka_consumer import Decoded
from shared.outbox import outbox
from shared.partition_progress import PartitionProgress, handling_batch
from shared.topics import TopicSpec, dlq_of
from tests.support.factories import new_customer, purchase
from tests.support.infra import Infrastructure
from tests.support.lifecycle_schema import own_lifecycle_tables
from tests.support.polling import eventually
from tests.support.services import ServiceProcess

TOPIC = "clm.customer-events.v1"
WALL = datetime(2026, 12, 1, tzinfo=UTC)
START = datetime(2024, 1, 1, 10, tzinfo=UTC)


def _day(n: int) -> datetime:
    return START + timedelta(days=n)


@pytest.fixture
async def engine(infra: Infrastructure) -> AsyncIterator[Any]:
    async with own_lifecycle_tables(infra.database_url, 2) as engine:
        yield engine


def _record(partition: int, offset: int) -> ConsumerRecord:  # type: ignore[type-arg]
    return ConsumerRecord(TOPIC, partition, offset, 0, 0, None, b"", None, 0, 0, ())


def _from(partition: int, *events: dict[str, Any]) -> list[Decoded[Any]]:
    return [
        Decoded(_record(partition, n), domain_event(customer_event_adapter.validate_python(e)))
        for n, e in enumerate(events)
    ]


async def _handle(
    processor: LifecycleProcessor, batch: list[Decoded[Any]], caught_up: dict[int, bool]
) -> None:
    with handling_batch(PartitionProgress(TOPIC, caught_up)):
        assert await processor.handle(batch) == []


async def test_a_long_stretch_of_one_partition_does_not_churn_the_customers_of_another(
    engine: Any,
) -> None:
    owner = f"test-partition-clock-{uuid.uuid4().hex[:8]}"
    processor = LifecycleProcessor(
        engine, load_rules(DEFAULT_RULES), ClockMode.EVENT_TIME, wall_clock=lambda: WALL,
        dedup_owner=owner, outbox_service=owner,
    )  # fmt: skip
    ahead, behind = new_customer("ahead"), new_customer("behind")  # partitions 0 and 1
    both_behind = {0: False, 1: False}
    await _handle(processor, _from(0, purchase(ahead, _day(0))), both_behind)
    await _handle(processor, _from(1, purchase(behind, _day(0))), both_behind)
    # A long stretch of partition 0: 300 days of its customer's purchases.
    await _handle(processor, _from(0, purchase(ahead, _day(100)), purchase(ahead, _day(300))), both_behind)  # fmt: skip
    async with engine.connect() as conn:
        assert await conn.scalar(sa.select(watermark.c.event_time)) == _day(0)
    assert await processor.evaluate_due(100) == 0  # nobody's time has come at day 0

    # Partition 1 goes on in order: its customer bought again on day 150, and is read to its end.
    await _handle(processor, _from(1, purchase(behind, _day(150))), {0: False, 1: True})
    async with engine.connect() as conn:
        assert await conn.scalar(sa.select(watermark.c.event_time)) == _day(300)
    await processor.evaluate_due(100)

    async with engine.connect() as conn:
        kinds = [
            (r.reason, r.to_stage)
            for r in await conn.execute(
                sa.select(transitions.c.reason, transitions.c.to_stage)
                .where(transitions.c.customer_id == behind)
                .order_by(transitions.c.occurred_at)
            )
        ]
        published = [
            bytes(v).decode()
            for v in (
                await conn.execute(sa.select(outbox.c.value).where(outbox.c.service == owner))
            ).scalars()
        ]
        rows = {
            r.customer_id: r
            for r in await conn.execute(
                sa.select(customers).where(customers.c.customer_id.in_([ahead, behind]))
            )
        }
    assert ("inactivity", "churn") not in kinds  # never churned by another partition's time
    assert not [p for p in published if '"retracts":"' in p]  # so nothing was corrected
    # Its own purchases carried `ahead` to day 300: churned after day 100, back on day 300.
    assert rows[ahead].as_of == _day(300)
    assert (rows[ahead].stage, rows[ahead].reactivations) == ("development", 1)
    assert rows[behind].stage == "development"


async def test_the_service_in_event_time_mode_keeps_a_clock_per_partition(
    infra: Infrastructure, start_service: Callable[..., ServiceProcess]
) -> None:
    """The running service, its consumer handing over each batch's partition progress."""
    topic = f"test.event-time-{uuid.uuid4().hex[:8]}"
    await ensure_topics(
        infra.kafka_bootstrap, 2, [TopicSpec(topic, {}), TopicSpec(dlq_of(topic), {})]
    )
    ahead, behind = new_customer("ahead"), new_customer("behind")
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:
        for partition, event in [
            (0, purchase(ahead, _day(0))), (0, purchase(ahead, _day(300))),
            (1, purchase(behind, _day(0))), (1, purchase(behind, _day(150))),
        ]:  # fmt: skip
            record = to_kafka(topic, to_cloudevent(customer_event_adapter.validate_python(event)))
            await producer.send(
                topic, record.value, key=record.key, headers=record.headers, partition=partition
            )
        await producer.flush()
    finally:
        await producer.stop()

    engine = create_async_engine(infra.database_url)
    async with engine.begin() as conn:  # no other test's service keeps an event-time clock
        await conn.execute(sa.delete(watermark))
    start_service(
        "lifecycle", CLM_LIFECYCLE_CLOCK="event_time", CLM_LIFECYCLE_EVENTS_TOPIC=topic,
        CLM_LIFECYCLE_CONSUMER_GROUP=f"g-{topic}", CLM_LIFECYCLE_CONSUMER_MAX_RECORDS="1",
        CLM_LIFECYCLE_RUN_SCHEDULER="false",  # the shared tables' other customers are not its
    )  # fmt: skip
    try:

        async def stored() -> dict[str, Any]:
            async with engine.connect() as conn:
                query = sa.select(customers).where(customers.c.customer_id.in_([ahead, behind]))
                return {r.customer_id: r for r in await conn.execute(query)}

        async def both_bought_last() -> bool:
            rows = await stored()
            return len(rows) == 2 and [rows[c].last_purchase_at for c in (ahead, behind)] == [
                _day(300),
                _day(150),
            ]

        await eventually(both_bought_last, timeout=60, what="every purchase applied")
        rows = await stored()
        async with engine.connect() as conn:
            read = {
                r.partition: (r.latest, r.caught_up)
                for r in await conn.execute(
                    sa.select(partition_clocks).where(partition_clocks.c.topic == topic)
                )
            }
    finally:
        await engine.dispose()
        await delete_topics(infra.kafka_bootstrap, [topic, dlq_of(topic)])
    assert read == {0: (_day(300), True), 1: (_day(150), True)}
    assert '"inactivity"' not in rows[behind].history  # never churned by partition 0's time
    assert rows[behind].stage == "development"
    assert rows[ahead].as_of == _day(300)
