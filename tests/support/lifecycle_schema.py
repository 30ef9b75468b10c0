"""Copies of the lifecycle tables in a schema of a test's own.

The lifecycle services other tests started run their schedulers on the shared tables and
would claim a test's customers too; a test that drives `LifecycleProcessor` itself works on
these copies instead.
"""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.db import make_engine

# What LifecycleProcessor.handle and evaluate_due touch.
TABLES = (
    "lifecycle_customers",
    "lifecycle_transitions",
    "lifecycle_facts",
    "processed_events",
    "outbox",
    "erased_customers",
    "lifecycle_watermark",
    "lifecycle_partition_clocks",
    "exchange_rates",
)


@asynccontextmanager
async def own_lifecycle_tables(database_url: str, pool_size: int) -> AsyncIterator[AsyncEngine]:
    """An engine whose search path is a new schema holding empty copies of TABLES."""
    schema = f"test_lifecycle_{uuid.uuid4().hex[:8]}"
    admin = make_engine(database_url, 1)
    async with admin.begin() as conn:
        await conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        for table in TABLES:
            await conn.execute(
                sa.text(f"CREATE TABLE {schema}.{table} (LIKE public.{table} INCLUDING ALL)")
            )
    engine = create_async_engine(
        database_url,
        pool_size=pool_size,
        connect_args={"server_settings": {"search_path": schema}},
    )
    try:
        yield engine
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        await admin.dispose()
