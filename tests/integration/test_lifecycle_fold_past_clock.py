"""An event that comes after a customer's last fact but before where the clock has run (the
scheduler churned the customer meanwhile) folds from the stored checkpoint with the stored
history, against the real database: its facts are not re-read nor rewritten (the event is
kept as a fact row), the churn it undoes is retracted and published as a correction, and
what is stored equals a plain full replay of every fact.

The tables are copies in a schema of this test's own (`tests.support.lifecycle_schema`).
"""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from services.lifecycle.adapters.tables import customers, fact_rows, transitions
from services.lifecycle.domain import CustomerFacts, apply_all, derive, load_rules
from services.lifecycle.service_layer.processing import LifecycleProcessor, domain_event
from services.lifecycle.settings import DEFAULT_RULES, ClockMode
from shared.events import customer_event_adapter
from shared.kafka_consumer import Decoded
from shared.outbox import outbox
from tests.support.factories import new_customer, purchase
from tests.support.infra import Infrastructure
from tests.support.lifecycle_schema import own_lifecycle_tables

START = datetime(1991, 5, 1, tzinfo=UTC)


@pytest.fixture
async def engine(infra: Infrastructure) -> AsyncIterator[Any]:
    async with own_lifecycle_tables(infra.database_url, 2) as engine:
        yield engine


async def test_an_event_the_clock_had_passed_folds_and_retracts_the_churn_it_undoes(
    engine: Any,
) -> None:
    owner = f"test-fold-past-clock-{uuid.uuid4().hex[:8]}"
    rules = load_rules(DEFAULT_RULES)
    clock = {"now": START + timedelta(days=1)}
    processor = LifecycleProcessor(
        engine, rules, ClockMode.WALL, wall_clock=lambda: clock["now"],
        dedup_owner=owner, outbox_service=owner,
    )  # fmt: skip
    customer = new_customer("fold-past-clock")
    first = customer_event_adapter.validate_python(purchase(customer, START))
    await processor.handle([Decoded(None, domain_event(first))])  # type: ignore[arg-type]
    clock["now"] = START + timedelta(days=rules.stages.churn_inactivity_days + 30)
    while await processor.evaluate_due(100):
        pass
    async with engine.connect() as conn:
        churn_id = await conn.scalar(
            sa.select(transitions.c.id).where(
                transitions.c.customer_id == customer, transitions.c.to_stage == "churn"
            )
        )
    assert churn_id is not None  # the clock churned the customer

    late = customer_event_adapter.validate_python(purchase(customer, START + timedelta(days=40)))
    await processor.handle([Decoded(None, domain_event(late))])  # type: ignore[arg-type]

    expected = derive(
        apply_all(CustomerFacts(customer), [domain_event(first), domain_event(late)]),
        rules,
        clock["now"],
    )
    async with engine.connect() as conn:
        row = (
            await conn.execute(sa.select(customers).where(customers.c.customer_id == customer))
        ).one()
        kept_rows = (
            (
                await conn.execute(
                    sa.select(fact_rows.c.event_id).where(fact_rows.c.customer_id == customer)
                )
            )
            .scalars()
            .all()
        )
        stored_ids = (
            (
                await conn.execute(
                    sa.select(transitions.c.id).where(transitions.c.customer_id == customer)
                )
            )
            .scalars()
            .all()
        )
        published = [
            orjson.loads(value)
            for value in (
                await conn.execute(sa.select(outbox.c.value).where(outbox.c.service == owner))
            ).scalars()
        ]
    assert list(kept_rows) == [late.event_id]  # folded: a replay rewrites the facts document
    assert row.stage == expected.stage.value
    assert row.next_due_at == expected.next_due_at
    assert [orjson.loads(line)["id"] for line in row.history.split("\n")] == [
        t.id for t in expected.history
    ]
    assert sorted(stored_ids) == sorted(t.id for t in expected.history)
    assert churn_id not in stored_ids
    corrections = [p for p in published if p["retracts"] == churn_id]
    assert [(c["cause_event_id"], c["reason"]) for c in corrections] == [
        (late.event_id, "late_event_correction")
    ]
