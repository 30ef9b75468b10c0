"""A batch split into concurrent transactions (parts by customer) has the effect of one.

Runs `LifecycleProcessor.handle` on copies of the lifecycle tables in a schema of its own.
"""

import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from services.lifecycle.adapters.tables import customers, transitions
from services.lifecycle.domain import CustomerFacts, apply_all, derive, load_rules
from services.lifecycle.service_layer.processing import LifecycleProcessor, domain_event
from services.lifecycle.settings import DEFAULT_RULES, ClockMode
from shared.events import customer_event_adapter
from shared.kafka_consumer import Decoded
from shared.outbox import outbox
from tests.support.factories import new_customer, purchase
from tests.support.infra import Infrastructure
from tests.support.lifecycle_schema import own_lifecycle_tables

START = datetime(1990, 3, 1, tzinfo=UTC)
NOW = START + timedelta(days=40)
PARTS = 3
CUSTOMERS = 30
PURCHASE_DAYS = (0, 10, 20, 30)  # three occasions within 180 days: maintenance


@pytest.fixture
async def engine(infra: Infrastructure) -> AsyncIterator[Any]:
    async with own_lifecycle_tables(infra.database_url, PARTS + 1) as engine:
        yield engine


async def test_a_batch_in_concurrent_parts_applies_each_event_once(engine: Any) -> None:
    run = uuid.uuid4().hex[:8]
    owner = f"test-parts-{run}"
    processor = LifecycleProcessor(
        engine, load_rules(DEFAULT_RULES), ClockMode.WALL, wall_clock=lambda: NOW,
        dedup_owner=owner, outbox_service=owner, transactions_per_batch=PARTS,
    )  # fmt: skip
    ids = sorted(new_customer(f"parts-{run}") for _ in range(CUSTOMERS))
    events = [
        customer_event_adapter.validate_python(purchase(c, START + timedelta(days=d)))
        for c in ids
        for d in PURCHASE_DAYS
    ]
    # The last customer's latest purchase reuses the first customer's first event id: the
    # first occurrence in the batch counts, so no event id is claimed by two parts.
    reused = events[-1].model_copy(update={"event_id": events[0].event_id})
    shuffled = random.Random(run).sample(events[:-1], len(events) - 1)
    batch = [events[0], *shuffled, *shuffled[:15], reused]  # repeats inside the batch
    decoded = [Decoded(None, domain_event(e)) for e in batch]

    assert await processor.handle(decoded) == []  # type: ignore[arg-type]
    assert await processor.handle(decoded) == []  # type: ignore[arg-type]  # redelivered

    counted = {c: [domain_event(e) for e in events[:-1] if e.customer_id == c] for c in ids}
    rules = load_rules(DEFAULT_RULES)
    async with engine.connect() as conn:
        rows = {
            r.customer_id: r
            for r in await conn.execute(
                sa.select(customers, sa.literal_column("xmin::text").label("written_by"))
            )
        }
        history = Counter(
            (await conn.execute(sa.select(transitions.c.customer_id, transitions.c.id))).all()
        )
        published = [
            orjson.loads(v)
            for v in (
                await conn.execute(sa.select(outbox.c.value).where(outbox.c.service == owner))
            ).scalars()
        ]
    assert set(rows) == set(ids)
    assert len({row.written_by for row in rows.values()}) == PARTS  # one transaction per part
    for customer_id, row in rows.items():
        replay = derive(apply_all(CustomerFacts(customer_id), counted[customer_id]), rules, NOW)
        assert row.stage == replay.stage.value == "maintenance"
        assert row.purchase_occasions == replay.purchase_occasions
        assert row.total_spend == replay.total_spend
    assert rows[ids[-1]].purchase_occasions == len(PURCHASE_DAYS) - 1  # its reused id: ignored
    assert set(history.values()) == {1}  # no transition recorded twice
    assert len(history) == sum(len(derive(apply_all(CustomerFacts(c), e), rules, NOW).history)
                               for c, e in counted.items())  # fmt: skip
    change_ids = [p["transition_id"] for p in published]
    assert len(change_ids) == len(set(change_ids)) == len(history)
