"""An engine for tests that run notify's Intake and Sender in process, and that removes the
rows they wrote (their outbox service and their customers' messages and profiles) at the end."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine

from services.notify.adapters.tables import notify_customers, notify_messages
from shared.db import make_engine
from shared.outbox import outbox


@asynccontextmanager
async def notify_engine(
    database_url: str, *, outbox_service: str, customer_prefix: str, pool_size: int = 5
) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, pool_size)
    yield engine
    async with engine.begin() as conn:
        await conn.execute(outbox.delete().where(outbox.c.service == outbox_service))
        for table in (notify_messages, notify_customers):
            await conn.execute(
                table.delete().where(table.c.customer_id.like(f"{customer_prefix}%"))
            )
    await engine.dispose()
