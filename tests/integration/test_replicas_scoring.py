"""Scoring replicas share one database (issue 18 item 6, issue 16 item 10).

Two scoring service instances (each with its own connection pool, as two pods have) against the
real PostgreSQL: one scheduled refit per interval across them; bulk rescores concurrent with
each other and with online scoring finish without a deadlock and without replacing the table;
and every instance reports a finished rescore as done.

The module has a database of its own: a fit reads the whole population, and the scheduled refit
fits as of now, so every other test's customers (a purchase on 1970-01-01, odd amounts) would
join it and decide whether it converges.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa

from services.scoring.domain import bgnbd
from services.scoring.domain.simulation import simulate_bgnbd
from services.scoring.service_layer.service import ScoringService
from services.scoring.settings import ScoringSettings
from shared.db import make_engine
from shared.events import CustomerEvent, customer_event_adapter
from tests.support.databases import own_database
from tests.support.factories import purchase
from tests.support.infra import Infrastructure

AS_OF = datetime(2004, 1, 1, tzinfo=UTC)


def _purchases(n: int, seed: int) -> list[CustomerEvent]:
    """Customers drawn from BG/NBD (weeks), buying in 2003 up to AS_OF."""
    rng = np.random.default_rng(seed)
    truth = bgnbd.BgNbdParams(r=2.0, alpha=8.0, a=1.0, b=3.0)
    sim = simulate_bgnbd(truth, rng.uniform(4, 52, n), rng)
    end = AS_OF - timedelta(hours=12)
    tag = uuid.uuid4().hex[:6]
    events = []
    for i, (x, t_x, age) in enumerate(zip(sim.frequency, sim.recency, sim.age, strict=True)):
        first = end - timedelta(weeks=float(age))
        offsets = np.r_[0.0, rng.uniform(0, t_x, max(int(x) - 1, 0)), t_x if x else []]
        spend = float(rng.uniform(20, 200))
        for o in offsets:
            at = first + timedelta(weeks=float(o))
            amount = f"{spend * rng.uniform(0.5, 1.5):.2f}"
            event = purchase(f"rep-{tag}-{i:04d}", at, amount)
            events.append(customer_event_adapter.validate_python(event))
    return events


@pytest.fixture(scope="module")
def database_url(infra: Infrastructure) -> Iterator[str]:
    with own_database(infra, "clm_replicas") as url:
        yield url


@pytest.fixture
async def replicas(database_url: str) -> AsyncIterator[tuple[ScoringService, ScoringService]]:
    settings = ScoringSettings(
        database_url=database_url, refit_interval_hours=24, rescore_chunk_size=500
    )
    engines = [make_engine(database_url, 4) for _ in range(2)]
    first, second = (ScoringService(engine, settings) for engine in engines)
    yield first, second
    for engine in engines:
        await engine.dispose()


async def _table_oid(service: ScoringService) -> int:
    async with service.engine.connect() as conn:
        return int(await conn.scalar(sa.text("SELECT 'scoring_customers'::regclass::oid")))


async def test_concurrent_rescores_and_online_scoring_neither_deadlock_nor_replace_the_table(
    replicas: tuple[ScoringService, ScoringService],
) -> None:
    first, second = replicas
    events = _purchases(400, seed=7)
    await first.handle_events(events)
    oid = await _table_oid(first)
    model = await first.fit(AS_OF, "week")
    assert (await second.current_model(max_age=0)) is not None
    assert (await second.current_model(max_age=0)).rescore_status == "running"  # type: ignore[union-attr]

    more = _purchases(300, seed=8)
    batches = [more[i : i + 60] for i in range(0, len(more), 60)]

    async def online(service: ScoringService) -> None:
        for batch in batches:
            await service.handle_events(batch)

    # Two rescores at once (a manual fit's and a replica's) while online batches write.
    written = await asyncio.gather(
        first.rescore_all(model), second.rescore_all(model), online(second)
    )
    assert written[0] > 0 and written[1] > 0
    assert await _table_oid(first) == oid, "the rescore must not drop and recreate the table"
    # 16.10: the rescore ended; every instance says so, not `running` forever.
    for service in (first, second):
        current = await service.current_model(max_age=0)
        assert current is not None and current.model_id == model.model_id
        assert current.describe()["rescore"]["status"] == "done"
        assert current.describe()["rescore"]["customers"] > 0


async def test_one_scheduled_refit_per_interval_across_replicas(
    replicas: tuple[ScoringService, ScoringService],
) -> None:
    first, second = replicas
    await first.handle_events(_purchases(200, seed=9))
    await first.fit(AS_OF, "week")  # current, and as of 2004: due for the scheduled refit
    started = datetime.now(UTC)
    now = started + timedelta(days=3)  # the replicas' timers fire on the same day
    results = await asyncio.gather(first.refit_if_due(now), second.refit_if_due(now))
    fitted = [r for r in results if r is not None]
    assert len(fitted) == 1, results  # exactly one replica refits
    assert fitted[0].rescore_status == "running" or fitted[0].as_of == now
    # Whoever comes next in the same interval finds the recent model and does not refit.
    assert await second.refit_if_due(now + timedelta(hours=1)) is None
    assert await first.refit_if_due(now) is None
    async with first.engine.connect() as conn:
        models = await conn.scalar(
            sa.text("SELECT count(*) FROM scoring_models WHERE created_at >= :since"),
            {"since": started},
        )
    assert models == 1
    current = await second.current_model(max_age=0)
    assert current is not None and current.model_id == fitted[0].model_id
    assert current.rescore_status == "done"
