"""Scoring's purchase occasions are calendar days of the business (CLM_BUSINESS_TIMEZONE):
they are derived in PostgreSQL from the customer's orders, so the zone is checked there."""

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.scoring.adapters import customer_store
from services.scoring.service_layer.facts import collect
from shared.business_calendar import BusinessCalendar
from shared.events import customer_event_adapter
from shared.money import ExchangeRates
from tests.support.factories import purchase
from tests.support.infra import Infrastructure

SHANGHAI_ZONE = ZoneInfo("Asia/Shanghai")
SHANGHAI = BusinessCalendar.named("Asia/Shanghai")


@pytest.fixture
async def engine(infra: Infrastructure) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(infra.database_url)
    yield engine
    await engine.dispose()


async def _occasions(
    engine: AsyncEngine, calendar: BusinessCalendar, *local: datetime
) -> list[tuple[str, int]]:
    customer = f"days-{uuid.uuid4().hex[:12]}"
    events = [
        customer_event_adapter.validate_python(purchase(customer, at, order_id=f"o-{n}"))
        for n, at in enumerate(local)
    ]
    async with engine.begin() as conn:
        await customer_store.record_facts(
            conn, collect(events, ExchangeRates.of("CNY", [])), calendar
        )
        rows = await conn.execute(
            sa.text(
                "SELECT day, orders FROM scoring_occasions WHERE customer_id = :c ORDER BY day"
            ),
            {"c": customer},
        )
        return [(str(day), orders) for day, orders in rows]


async def test_23_00_and_07_00_next_morning_local_are_two_occasions(engine: AsyncEngine) -> None:
    late, early = (
        datetime(2024, 3, 1, 23, tzinfo=SHANGHAI_ZONE),
        datetime(2024, 3, 2, 7, tzinfo=SHANGHAI_ZONE),
    )
    assert await _occasions(engine, SHANGHAI, late, early) == [("2024-03-01", 1), ("2024-03-02", 1)]
    assert await _occasions(engine, BusinessCalendar(), late, early) == [("2024-03-01", 2)]


async def test_01_00_and_10_00_on_one_local_day_are_one_occasion(engine: AsyncEngine) -> None:
    night, morning = (
        datetime(2024, 3, 5, 1, tzinfo=SHANGHAI_ZONE),
        datetime(2024, 3, 5, 10, tzinfo=SHANGHAI_ZONE),
    )
    assert await _occasions(engine, SHANGHAI, night, morning) == [("2024-03-05", 2)]
    assert len(await _occasions(engine, BusinessCalendar(), night, morning)) == 2
