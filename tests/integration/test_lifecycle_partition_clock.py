"""The event-time clock of a backfill waits for the partitions still being read.

A batch may hold a long stretch of one partition. Before, the clock moved to that batch's
latest event, so customers of the other partitions churned (and were told so) before their
own, earlier events had been read, and each such event then published a correction. Runs
`LifecycleProcessor.handle` in event_time mode on copies of the lifecycle tables, each batch
handed over with its member's partition progress as `BatchConsumer` hands it.
"""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka import ConsumerRecord

from services.lifecycle.adapters.tables import customers, transitions, watermark
from services.lifecycle.domain import load_rules
from services.lifecycle.service_layer.processing import LifecycleProcessor, domain_event
from services.lifecycle.settings import DEFAULT_RULES, ClockMode
from shared.events import customer_event_adapter
from shared.kafka_consumer import Decoded
from shared.outbox import outbox
from shared.partition_progress import PartitionProgress, handling_batch
from tests.support.factories import new_customer, purchase
from tests.support.infra import Infrastructure
from tests.support.lifecycle_schema import own_lifecycle_tables

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
