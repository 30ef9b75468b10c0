"""Backfills (event-time clock, future-dated events) and the business time zone at start-up.

Runs `LifecycleProcessor.handle` in event_time mode on copies of the lifecycle tables.
"""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from services.lifecycle.adapters.tables import customers, watermark
from services.lifecycle.domain import load_rules
from services.lifecycle.service_layer.processing import LifecycleProcessor, domain_event
from services.lifecycle.settings import DEFAULT_RULES, ClockMode
from shared.events import customer_event_adapter
from shared.kafka_consumer import Decoded
from tests.support.factories import new_customer, purchase
from tests.support.infra import Infrastructure
from tests.support.lifecycle_schema import own_lifecycle_tables
from tests.support.services import LOG_DIR, ServiceProcess, free_port

WALL = datetime(2026, 12, 1, tzinfo=UTC)
BACKFILL = datetime(2024, 3, 1, 10, tzinfo=UTC)
BAD = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
async def engine(infra: Infrastructure) -> AsyncIterator[Any]:
    async with own_lifecycle_tables(infra.database_url, 2) as engine:
        yield engine


def _batch(*events: dict[str, Any]) -> list[Decoded[Any]]:
    return [Decoded(None, domain_event(customer_event_adapter.validate_python(e))) for e in events]  # type: ignore[arg-type]


async def test_a_2030_event_neither_moves_the_clock_nor_leaves_stage_since_null(
    engine: Any,
) -> None:
    run = uuid.uuid4().hex[:8]
    owner = f"test-event-time-{run}"
    processor = LifecycleProcessor(
        engine, load_rules(DEFAULT_RULES), ClockMode.EVENT_TIME, wall_clock=lambda: WALL,
        dedup_owner=owner, outbox_service=owner,
    )  # fmt: skip
    honest, future = new_customer("honest"), new_customer("future")
    await processor.handle(_batch(purchase(honest, BACKFILL), purchase(future, BAD)))

    async with engine.connect() as conn:
        clock = await conn.scalar(sa.select(watermark.c.event_time))
        rows = {
            r.customer_id: r
            for r in await conn.execute(
                sa.select(customers).where(customers.c.customer_id.in_([honest, future]))
            )
        }
    assert clock == BACKFILL  # not 2030: everyone else's clock stays where the backfill is
    assert rows[honest].stage == "development"
    assert rows[future].stage == "acquisition"
    assert rows[future].stage_since == BAD  # known, with its first fact's time, never null
    assert rows[future].first_seen_at == BAD

    # The backfill moves on; so does the clock.
    await processor.handle(_batch(purchase(honest, BACKFILL + timedelta(days=30))))
    async with engine.connect() as conn:
        assert await conn.scalar(sa.select(watermark.c.event_time)) == BACKFILL + timedelta(days=30)


async def test_a_batch_of_only_future_events_is_still_kept(engine: Any) -> None:
    run = uuid.uuid4().hex[:8]
    owner = f"test-event-time-{run}"
    processor = LifecycleProcessor(
        engine, load_rules(DEFAULT_RULES), ClockMode.EVENT_TIME, wall_clock=lambda: WALL,
        dedup_owner=owner, outbox_service=owner,
    )  # fmt: skip
    future = new_customer("future")
    await processor.handle(_batch(purchase(future, BAD)))
    async with engine.connect() as conn:
        row = (
            await conn.execute(sa.select(customers).where(customers.c.customer_id == future))
        ).one()
        assert await conn.scalar(sa.select(watermark.c.event_time)) is None
    assert (row.stage, row.stage_since) == ("acquisition", BAD)


@pytest.mark.parametrize("service", ["lifecycle", "scoring"])
def test_an_unknown_business_time_zone_stops_the_service_naming_it(
    service: str, service_env: dict[str, str]
) -> None:
    proc = ServiceProcess(
        service, free_port(), {**service_env, "CLM_BUSINESS_TIMEZONE": "Mars/Olympus_Mons"}
    )
    with pytest.raises(RuntimeError, match="exited"):
        proc.start(timeout=120)  # scoring's imports take a while on a busy machine
    log = (LOG_DIR / f"{service}-{proc.port}.log").read_text()
    assert "CLM_BUSINESS_TIMEZONE" in log
    assert "'Mars/Olympus_Mons' is not an IANA time zone name" in log
