"""`clm replay lifecycle` and its dry run read and clear every table lifecycle derives from the
events, in a database of the test's own (the replay truncates them whole).

Found while adding `lifecycle_partition_clocks`: the replay truncated neither it nor
`lifecycle_facts` and `lifecycle_contact_keys`, and the dry run derived from the facts document
alone, without the in-order events appended after it as rows (0015_h12).
"""

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from clm_cli.replay import TABLES, forecast, replay
from clm_cli.settings import CliSettings
from services.lifecycle.adapters.fact_codec import event_to_text
from services.lifecycle.adapters.tables import contact_keys, customers, fact_rows, partition_clocks
from shared.db import make_engine
from tests.support.databases import own_database
from tests.support.infra import Infrastructure
from tests.support.lifecycle_rows import bought_once_row, purchase_event

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def database_url(infra: Infrastructure) -> Iterator[str]:
    with own_database(infra, "clm_replay") as url:
        yield url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, 2)
    yield engine
    await engine.dispose()


async def _store_customer(engine: AsyncEngine, customer: str) -> None:
    """In development: a purchase in 2000 in its facts document, and one yesterday appended
    after it as a fact row (as an in-order event is stored)."""
    yesterday = NOW - timedelta(days=1)
    row = {
        **bought_once_row(customer, datetime(2000, 3, 1, tzinfo=UTC)),
        "reactivations": 1, "last_purchase_at": yesterday, "purchase_occasions": 2,
        "total_spend": 100, "as_of": yesterday,
    }  # fmt: skip
    async with engine.begin() as conn:
        await conn.execute(sa.insert(customers).values(row))
        body = event_to_text(purchase_event(customer, 2, yesterday))
        await conn.execute(sa.insert(fact_rows).values(customer_id=customer, event_id=f"{customer}-p2", body=body))  # fmt: skip
        await conn.execute(
            sa.insert(contact_keys).values(customer_id=customer, email="a@b.example")
        )
        await conn.execute(
            sa.insert(partition_clocks).values(
                topic="clm.customer-events.v1", partition=0, latest=yesterday, caught_up=True
            )
        )


async def test_the_dry_run_reads_the_events_appended_after_the_facts_document(
    engine: AsyncEngine, database_url: str
) -> None:
    customer = f"replay-{uuid.uuid4().hex[:8]}"
    await _store_customer(engine, customer)
    result = await forecast(CliSettings(database_url=database_url), now=NOW)
    assert result.customers == 1
    # Bought yesterday: still in development (from the document alone it churned in 2000).
    assert dict(result.moves) == {}


async def test_the_replay_clears_every_table_lifecycle_derives_from_the_events(
    engine: AsyncEngine,
    database_url: str,
    infra: Infrastructure,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _store_customer(engine, f"replay-{uuid.uuid4().hex[:8]}")
    # A group of the test's own: the suite's lifecycle services consume as clm-lifecycle.
    monkeypatch.setenv("CLM_LIFECYCLE_CONSUMER_GROUP", f"test-replay-{uuid.uuid4().hex[:8]}")
    settings = CliSettings(database_url=database_url, kafka_bootstrap_servers=infra.kafka_bootstrap)
    removed, _ = await replay(settings)
    assert removed == 1
    assert {"lifecycle_facts", "lifecycle_partition_clocks", "lifecycle_contact_keys"} <= set(
        TABLES
    )
    async with engine.connect() as conn:
        for table in TABLES:
            assert await conn.scalar(sa.text(f"SELECT count(*) FROM {table}")) == 0, table
