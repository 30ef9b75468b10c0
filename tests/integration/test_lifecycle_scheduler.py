"""Concurrent scheduler workers against the real database: each due customer is evaluated
once and each time-driven change is recorded and published once.

The tables are copies in a schema of this test's own (`tests.support.lifecycle_schema`).
"""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from services.lifecycle.adapters import state_store
from services.lifecycle.adapters.snapshot_codec import checkpoint_from_json, checkpoint_to_json
from services.lifecycle.adapters.tables import customers, transitions
from services.lifecycle.domain import derive_resuming, load_rules
from services.lifecycle.service_layer.processing import LifecycleProcessor, domain_event
from services.lifecycle.settings import DEFAULT_RULES, ClockMode
from shared.events import customer_event_adapter
from shared.kafka_consumer import Decoded
from shared.outbox import outbox
from tests.support.factories import new_customer, purchase
from tests.support.infra import Infrastructure
from tests.support.lifecycle_schema import own_lifecycle_tables

START = datetime(1990, 3, 1, tzinfo=UTC)
CUSTOMERS = 60
CLAIM_LIMIT = 7  # small batches, so that the workers interleave many times
WORKERS = 3


@pytest.fixture
async def engine(infra: Infrastructure) -> AsyncIterator[Any]:
    async with own_lifecycle_tables(infra.database_url, WORKERS + 1) as engine:
        yield engine


def processor_on(engine: Any, clock: dict[str, datetime], owner: str) -> LifecycleProcessor:
    """A processor whose wall clock is `clock["now"]`, deduping and publishing as `owner`."""
    return LifecycleProcessor(
        engine,
        load_rules(DEFAULT_RULES),
        ClockMode.WALL,
        wall_clock=lambda: clock["now"],
        dedup_owner=owner,
        outbox_service=owner,
    )


async def customers_who_bought(processor: LifecycleProcessor, prefix: str, count: int) -> list[str]:
    """`count` new customers, each with one purchase a minute apart from START."""
    ids = [new_customer(prefix) for _ in range(count)]
    events = [
        customer_event_adapter.validate_python(purchase(c, START + timedelta(minutes=n)))
        for n, c in enumerate(ids)
    ]
    await processor.handle([Decoded(None, domain_event(e)) for e in events])  # type: ignore[arg-type]
    return ids


async def test_concurrent_workers_evaluate_each_due_customer_once(engine: Any) -> None:
    run = uuid.uuid4().hex[:8]
    clock = {"now": START + timedelta(days=1)}
    processor = processor_on(engine, clock, f"test-scheduler-{run}")
    ids = await customers_who_bought(processor, f"sched-{run}", CUSTOMERS)
    clock["now"] = START + timedelta(days=200)  # past at-risk (60 days) and churn (180)

    async def worker() -> int:
        evaluated = 0
        while n := await processor.evaluate_due(CLAIM_LIMIT):
            evaluated += n
        return evaluated

    per_worker = await asyncio.gather(*(worker() for _ in range(WORKERS)))

    assert sum(per_worker) == CUSTOMERS  # every due customer claimed exactly once
    async with engine.connect() as conn:
        stages = dict(
            (
                await conn.execute(
                    sa.select(customers.c.customer_id, customers.c.stage).where(
                        customers.c.customer_id.in_(ids)
                    )
                )
            ).all()
        )
        churns = Counter(
            (
                await conn.execute(
                    sa.select(transitions.c.customer_id).where(
                        transitions.c.customer_id.in_(ids),
                        transitions.c.kind == "stage",
                        transitions.c.to_stage == "churn",
                    )
                )
            ).scalars()
        )
        published = [
            orjson.loads(value)
            for value in (
                await conn.execute(
                    sa.select(outbox.c.value).where(outbox.c.service == f"test-scheduler-{run}")
                )
            ).scalars()
        ]
    assert stages == dict.fromkeys(ids, "churn")
    assert churns == Counter(dict.fromkeys(ids, 1))
    rows, _ = await rows_and_published(engine, customers.c.customer_id.in_(ids), "")
    for row in rows.values():  # rewritten rows mark where the clock stood: the next starts there
        stored = checkpoint_from_json(orjson.loads(row["checkpoint"]), load_rules(DEFAULT_RULES))
        assert stored is not None and stored.clock is not None
        assert stored.clock.history_len == len(row["history"].splitlines())
        assert stored.clock.state.t == clock["now"]
    published_churns = Counter(
        p["customer_id"] for p in published if p["to_stage"] == "churn" and p["kind"] == "stage"
    )
    assert published_churns == Counter(dict.fromkeys(ids, 1))
    change_ids = [p["transition_id"] for p in published]
    assert len(change_ids) == len(set(change_ids))
    churn_causes = {
        p["cause_event_id"] for p in published if p["kind"] == "stage" and p["to_stage"] == "churn"
    }
    assert churn_causes == {"clock"}


async def rows_and_published(
    engine: Any, which: Any, owner: str
) -> tuple[dict[str, dict[str, Any]], int]:
    """The customers' rows by id, and how many outbox rows `owner` has written."""
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(customers).where(which))
        published = await conn.scalar(
            sa.select(sa.func.count()).select_from(outbox).where(outbox.c.service == owner)
        )
    return {r.customer_id: r._asdict() for r in rows}, int(published or 0)


@pytest.mark.parametrize(
    "derived_after_days",
    [
        pytest.param(1, id="derived-a-day-after-the-purchase"),
        pytest.param(200, id="derived-after-churn-with-a-clock-mark"),
    ],
)
async def test_a_re_evaluation_that_only_moves_the_clock_keeps_everything_else(
    engine: Any, derived_after_days: int
) -> None:
    run = uuid.uuid4().hex[:8]
    clock = {"now": START + timedelta(days=derived_after_days)}
    owner = f"test-clock-only-{run}"
    processor = processor_on(engine, clock, owner)
    ids = await customers_who_bought(processor, f"clock-only-{run}", 5)
    mine = customers.c.customer_id.in_(ids)
    stored, published_before = await rows_and_published(engine, mine, owner)
    for row in stored.values():
        # Derived after its churn, a customer's checkpoint marks where the clock stood.
        mark = orjson.loads(row["checkpoint"]).get("clock")
        if derived_after_days < 180:
            assert mark is None
        else:
            assert row["stage"] == "churn"
            assert mark["history"] == len(row["history"].splitlines())
    async with engine.begin() as conn:
        # Due now, as a forced re-evaluation makes them (nothing changes 2 days later).
        await conn.execute(sa.update(customers).where(mine).values(next_due_at=START))
    clock["now"] += timedelta(days=2)

    assert await processor.evaluate_due(100) == len(ids)

    after, published_after = await rows_and_published(engine, mine, owner)
    assert published_after == published_before  # no change to publish
    assert set(after) == set(stored) == set(ids)
    for customer_id, row in after.items():
        before = stored[customer_id]
        assert row["as_of"] == clock["now"]
        assert row["next_due_at"] == before["next_due_at"]  # the true next change, restored
        unchanged = set(row) - {"as_of", "next_due_at", "updated_at"}
        assert {k: row[k] for k in unchanged} == {k: before[k] for k in unchanged}


async def test_a_customer_the_clock_moves_on_is_stored_as_a_full_replay_stores_it(
    engine: Any,
) -> None:
    """The scheduler appends the clock's transitions to the stored history and re-encodes only
    the checkpoint's clock mark: what it stores is still exactly what a full replay of the
    customer's facts at that moment stores (history lines, checkpoint, state columns)."""
    run = uuid.uuid4().hex[:8]
    clock = {"now": START + timedelta(days=1)}
    owner = f"test-by-clock-{run}"
    processor = processor_on(engine, clock, owner)
    ids = await customers_who_bought(processor, f"by-clock-{run}", 5)
    mine = customers.c.customer_id.in_(ids)
    before, _ = await rows_and_published(engine, mine, owner)
    clock["now"] = START + timedelta(days=200)  # past at-risk (60 days) and churn (180)

    assert await processor.evaluate_due(100) == len(ids)

    after, published = await rows_and_published(engine, mine, owner)
    rules = load_rules(DEFAULT_RULES)
    async with engine.connect() as conn:
        for customer_id, row in after.items():
            old = before[customer_id]
            # The stored lines are kept as they were; the clock's transitions follow them.
            assert row["history"].startswith(old["history"] + "\n")
            document, old_document = (
                orjson.loads(row["checkpoint"]),
                orjson.loads(old["checkpoint"]),
            )
            assert document.pop("clock")["history"] == len(row["history"].splitlines())
            assert document == {k: v for k, v in old_document.items() if k != "clock"}
            facts = await state_store.stored_facts(conn, customer_id, row["facts"])
            state, checkpoint = derive_resuming(facts, rules, clock["now"], None)
            assert checkpoint is not None
            assert row["history"].splitlines() == [t.to_line() for t in state.history]
            assert orjson.loads(row["checkpoint"]) == checkpoint_to_json(checkpoint)
            assert (row["stage"], row["stage_since"], row["tier"], row["next_due_at"]) == (
                state.stage.value, state.stage_since, state.tier.value, state.next_due_at,
            )  # fmt: skip
            assert row["trailing_spend"] == state.trailing_spend
            assert sorted(row["flags"]) == sorted(f.value for f in state.flags)
        recorded = (
            await conn.execute(
                sa.select(transitions.c.id).where(transitions.c.customer_id.in_(ids))
            )
        ).scalars()
        lines = [line for row in after.values() for line in row["history"].splitlines()]
        assert set(recorded) == {orjson.loads(line)["id"] for line in lines}
    added = sum(len(r["history"].splitlines()) - len(before[c]["history"].splitlines())
                for c, r in after.items())  # fmt: skip
    assert added > 0 and published == len(lines)  # every transition published once
