"""Two transactions creating one new customer at once keep both's facts.

Seen in a full suite run: a lifecycle instance started with a backlog; scoring had already
scored a new customer, so lifecycle's score consumer and its event consumer each created the
customer in their own transaction. Neither found a row to lock, and the second save's upsert
overwrote the first's facts: the customer's only purchase was lost (first_seen_at NULL, still
in acquisition), its event id claimed, so never applied again.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from services.lifecycle.adapters import state_store
from services.lifecycle.adapters.tables import customers
from services.lifecycle.domain import (
    CustomerFacts,
    DomainEvent,
    EventType,
    apply,
    derive_resuming,
    load_rules,
)
from services.lifecycle.service_layer.processing import LifecycleProcessor, domain_event
from services.lifecycle.settings import DEFAULT_RULES, ClockMode
from shared.events import customer_event_adapter
from shared.kafka_consumer import Decoded
from tests.support.factories import new_customer, purchase
from tests.support.infra import Infrastructure
from tests.support.lifecycle_schema import own_lifecycle_tables
from tests.support.polling import eventually

NOW = datetime(2026, 12, 1, tzinfo=UTC)
RULES = load_rules(DEFAULT_RULES)


@pytest.fixture
async def engine(infra: Infrastructure) -> AsyncIterator[Any]:
    async with own_lifecycle_tables(infra.database_url, 4) as engine:
        yield engine


async def _waiting_on_a_lock(engine: Any) -> bool:
    async with engine.connect() as conn:
        waiting = await conn.scalar(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        )
    return bool(waiting)


async def test_a_new_customer_created_by_another_transaction_meanwhile_keeps_both_facts(
    engine: Any,
) -> None:
    owner = f"test-race-{uuid.uuid4().hex[:8]}"
    processor = LifecycleProcessor(
        engine, RULES, ClockMode.WALL, wall_clock=lambda: NOW, dedup_owner=owner,
        outbox_service=owner,
    )  # fmt: skip
    customer = new_customer("race")
    reading = DomainEvent("score-1", EventType.SCORE, customer, NOW - timedelta(hours=1), {"churn_risk": 0.4})  # fmt: skip
    scored = apply(CustomerFacts(customer), reading)
    state, checkpoint = derive_resuming(scored, RULES, NOW, None)
    bought = purchase(customer, NOW - timedelta(days=2))
    batch = [Decoded(None, domain_event(customer_event_adapter.validate_python(bought)))]

    async with engine.begin() as other:  # the score consumer's transaction, not committed yet
        await state_store.save(other, [state_store.Derived(scored, state, checkpoint, None)])
        handled = asyncio.create_task(processor.handle(batch))  # type: ignore[arg-type]
        await eventually(
            lambda: _waiting_on_a_lock(engine), timeout=30, what="the event's save waiting"
        )
    assert await handled == []

    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(customers).where(customers.c.customer_id == customer))).one()  # fmt: skip
    facts = CustomerFacts.from_json(orjson.loads(row.facts))
    assert set(facts.purchases) == {bought["event_id"]}  # the purchase is kept
    assert set(facts.scores) == {"score-1"}  # and so is the reading
    assert (row.stage, row.first_seen_at) == ("development", NOW - timedelta(days=2))
