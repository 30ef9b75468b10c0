"""Two of audiences' consumers (lifecycle changes and customer events) updating one customer
that has no view yet must not lose either update: the second writer waits for the first and
builds on its row. Real PostgreSQL; the interleaving is forced, not left to chance."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.audiences.adapters import store
from services.audiences.adapters.tables import audience_customers
from services.audiences.domain.customers import CustomerView, Update, UpdateKind, apply
from services.audiences.service_layer.intake import Intake
from shared.db import make_engine
from tests.support.infra import Infrastructure
from tests.support.polling import eventually

NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
async def engine(infra: Infrastructure) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(infra.database_url)
    yield engine
    await engine.dispose()


async def _someone_waits_on_a_lock(engine: AsyncEngine) -> bool | None:
    async with engine.connect() as conn:
        waiting = await conn.scalar(sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
    return True if waiting else None


async def test_a_new_customers_stage_and_profile_from_two_consumers_are_both_kept(
    engine: AsyncEngine,
) -> None:
    customer = f"race-{uuid.uuid4().hex[:10]}"
    stage = Update(f"s-{customer}", customer, NOW, UpdateKind.STAGE, stage="development")
    profile = Update(f"p-{customer}", customer, NOW, UpdateKind.PROFILE, locale="zh-CN")
    intake = Intake(engine, clock=lambda: NOW)
    try:
        # The lifecycle consumer's transaction: it has locked and written the new view...
        async with engine.begin() as first:
            views = await store.lock_views(first, {customer})
            view = apply(views.get(customer) or CustomerView(customer), stage)
            await store.save_views(first, [view], NOW)
            # ...when the events consumer's batch for the same customer starts.
            second = asyncio.create_task(intake.observe([profile], "audiences:events"))
            await eventually(
                lambda: _someone_waits_on_a_lock(engine), what="the second writer to wait"
            )
            assert not second.done()
        await asyncio.wait_for(second, timeout=30)
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(audience_customers).where(
                        audience_customers.c.customer_id == customer
                    )
                )
            ).one()
        assert (row.stage, row.locale) == ("development", "zh-CN")
    finally:
        async with engine.begin() as conn:
            await store.forget(conn, [customer])
