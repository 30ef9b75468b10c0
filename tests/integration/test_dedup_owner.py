"""Dedup belongs to the service that owns the state: two consumer groups of one service
(an operator's second group, a replay tool) apply an event once between them."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from services.scoring.adapters.tables import customers, occasions, purchases
from services.scoring.service_layer.service import ScoringService
from services.scoring.settings import ScoringSettings
from shared.db import make_engine
from shared.events import customer_event_adapter
from tests.support.factories import new_customer, purchase
from tests.support.infra import Infrastructure


@pytest.fixture
async def engine(infra: Infrastructure) -> AsyncIterator[Any]:
    engine = make_engine(infra.database_url, 4)
    yield engine
    await engine.dispose()


async def test_two_groups_of_scoring_count_an_order_once(
    infra: Infrastructure, engine: Any
) -> None:
    settings = ScoringSettings(database_url=infra.database_url)
    first = ScoringService(engine, settings.model_copy(update={"consumer_group": "clm-scoring"}))
    second = ScoringService(engine, settings.model_copy(update={"consumer_group": "clm-scoring-b"}))
    customer = new_customer("dedup")
    event = customer_event_adapter.validate_python(purchase(customer, amount="120.00"))
    try:
        assert await first.handle_events([event]) == 1
        assert await second.handle_events([event]) == 0
        async with engine.connect() as conn:
            spend = await conn.scalar(
                sa.select(customers.c.total_spend).where(customers.c.customer_id == customer)
            )
        assert spend == pytest.approx(120.0)
    finally:
        async with engine.begin() as conn:
            for table in (purchases, occasions, customers):
                await conn.execute(table.delete().where(table.c.customer_id == customer))
