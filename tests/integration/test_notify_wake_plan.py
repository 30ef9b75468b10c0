"""Waking the steps awaiting an address reads only those steps, however many messages notify
holds: the plan of the statement on a large notify_messages table, and what it updates."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notify.adapters import store
from shared.db import make_engine
from tests.support.databases import own_database
from tests.support.infra import Infrastructure

INDEX = "ix_notify_messages_awaiting_address"
OLD, CUSTOMERS, FRESH = 200_000, 50_000, 40_000  # messages analysed, customers, messages after
BATCH = 2_000  # profiled customers in one intake batch (CLM_NOTIFY_CONSUMER_MAX_RECORDS)

# Messages of every status: the scheduled ones due in the next days, the others in the past;
# then ANALYZE.
_OLD = sa.text(
    "INSERT INTO notify_messages (id, playbook, step, customer_id, occurrence_id, trigger_kind, "
    "trigger_at, channel, template, status, reason, due_at, created_at, updated_at) "
    "SELECT 'old-' || g, 'p' || g % 7, 's' || g % 3, 'c-' || g % :customers, 'o' || g, "
    "'stage_entered', :at, 'email', 't', "
    "(ARRAY['sent', 'sent', 'cancelled', 'suppressed', 'scheduled'])[1 + g % 5], "
    "CASE WHEN g % 5 = 4 AND g % 50 = 4 THEN 'awaiting_address' ELSE 'due' END, "
    "CASE WHEN g % 5 = 4 THEN :at + g * interval '1 second' ELSE :at - g * interval '1 second' "
    "END, :at, :at FROM generate_series(1, :n) g"
).bindparams(sa.bindparam("at", type_=sa.DateTime(timezone=True)))
# Messages planned since the statistics, due later than all those (OLD seconds, 2.3 days, ahead
# at most): scheduled, one in ten awaiting an address.
_FRESH = sa.text(
    "INSERT INTO notify_messages (id, playbook, step, customer_id, occurrence_id, trigger_kind, "
    "trigger_at, channel, template, status, reason, due_at, created_at, updated_at) "
    "SELECT 'new-' || g, 'p' || g % 7, 's' || g % 3, 'c-' || g % :customers, 'n' || g, "
    "'stage_entered', :at, 'email', 't', 'scheduled', "
    "CASE WHEN g % 10 = 0 THEN 'awaiting_address' ELSE 'due' END, "
    ":at + interval '3 days' + g % 5000 * interval '1 minute', :at, :at "
    "FROM generate_series(1, :n) g"
).bindparams(sa.bindparam("at", type_=sa.DateTime(timezone=True)))


@pytest.fixture(scope="module")
def database_url(infra: Infrastructure) -> Iterator[str]:
    with own_database(infra, "clm_wake") as url:
        yield url


@pytest.fixture(scope="module")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, 4)
    yield engine
    await engine.dispose()


def _scans(plan: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    """(node type, relation, index) of every node of an EXPLAIN (FORMAT JSON) plan."""
    own = [(plan["Node Type"], plan.get("Relation Name"), plan.get("Index Name"))]
    return own + [s for child in plan.get("Plans", []) for s in _scans(child)]


async def _plans(engine: AsyncEngine, ids: list[str], now: datetime) -> dict[str, list[Any]]:
    """The statement's plan as one execution plans it (custom) and as a prepared statement
    re-executed by asyncpg may (generic: parameters unknown to the planner)."""
    sql = store._WAKE_AWAITING_ADDRESS.text
    params = {"ids": ids, "now": now}
    typed: list[sa.BindParameter[Any]] = [
        sa.bindparam("ids", type_=ARRAY(sa.String)),
        sa.bindparam("now", type_=sa.DateTime(timezone=True)),
    ]
    out: dict[str, list[Any]] = {}
    async with engine.connect() as conn:
        explain = sa.text(f"EXPLAIN (FORMAT JSON) {sql}").bindparams(*typed)
        out["custom"] = _scans((await conn.scalar(explain, params))[0]["Plan"])
        await conn.rollback()
        generic = sql.replace(":ids", "$1").replace(":now", "$2")
        async with conn.begin():
            await conn.execute(sa.text("SET LOCAL plan_cache_mode = force_generic_plan"))
            await conn.execute(sa.text(f"PREPARE wake(varchar[], timestamptz) AS {generic}"))
            # EXECUTE takes no bound parameters: the values are literals (test ids, a time)
            literals = f"'{{{','.join(ids)}}}', '{now.isoformat()}'"
            execute = sa.text(f"EXPLAIN (FORMAT JSON) EXECUTE wake({literals})")
            out["generic"] = _scans((await conn.scalar(execute))[0]["Plan"])
            await conn.execute(sa.text("DEALLOCATE wake"))
    return out


async def test_waking_a_batch_of_profiled_customers_reads_only_the_steps_awaiting_an_address(
    engine: AsyncEngine,
) -> None:
    at = datetime.now(UTC)
    async with engine.begin() as conn:
        # the statistics then stay those of ANALYZE below, as between two autovacuum runs
        await conn.execute(sa.text("ALTER TABLE notify_messages SET (autovacuum_enabled = off)"))
        await conn.execute(_OLD, {"n": OLD, "customers": CUSTOMERS, "at": at})
    async with engine.connect() as conn:
        await conn.execute(sa.text("ANALYZE notify_messages"))
        await conn.commit()
    ids = [f"c-{i}" for i in range(0, CUSTOMERS, CUSTOMERS // BATCH)]

    def assert_reads_the_awaiting_steps(plans: dict[str, list[Any]], stats: str) -> None:
        for kind, scans in plans.items():
            tables = {(node, index) for node, relation, index in scans if relation}
            indexes = {index for _, _, index in scans if index}
            assert ("Seq Scan", None) not in tables, (stats, kind, scans)
            assert "ix_notify_messages_due" not in indexes, (stats, kind, scans)
            assert INDEX in indexes, (stats, kind, scans)

    assert_reads_the_awaiting_steps(await _plans(engine, ids, at), "fresh statistics")
    # Days later, before autovacuum analyses again: every message the statistics know is due
    # before now, so the planner expects no scheduled message due after now; those planned
    # since are.
    async with engine.begin() as conn:
        await conn.execute(_FRESH, {"n": FRESH, "customers": CUSTOMERS, "at": at})
    later = at + timedelta(days=2, hours=12)
    assert_reads_the_awaiting_steps(await _plans(engine, ids, later), "statistics before the news")


async def _insert(engine: AsyncEngine, rows: list[tuple[str, str, str, datetime]]) -> None:
    query = sa.text(
        "INSERT INTO notify_messages (id, playbook, step, customer_id, occurrence_id, "
        "trigger_kind, trigger_at, channel, template, status, reason, due_at, created_at, "
        "updated_at) VALUES (:id, 'welcome', 'email', :customer, :id, 'stage_entered', :due, "
        "'email', 't', 'scheduled', :reason, :due, :due, :due)"
    ).bindparams(sa.bindparam("due", type_=sa.DateTime(timezone=True)))
    async with engine.begin() as conn:
        for id_, customer, reason, due in rows:
            await conn.execute(
                query, {"id": id_, "customer": customer, "reason": reason, "due": due}
            )


async def test_a_profile_wakes_its_steps_in_their_grace_only_and_skips_a_step_being_sent(
    engine: AsyncEngine,
) -> None:
    run = uuid.uuid4().hex[:6]
    now = datetime.now(UTC).replace(microsecond=0)
    customer, other = f"w-{run}-1", f"w-{run}-2"
    ahead, over = now + timedelta(hours=1), now - timedelta(minutes=5)
    await _insert(
        engine,
        [
            (f"{run}-waiting", customer, "awaiting_address", ahead),
            (f"{run}-grace-over", customer, "awaiting_address", over),
            (f"{run}-held", customer, "awaiting_address", ahead),
            (f"{run}-due", customer, "due", ahead),
            (f"{run}-other", other, "awaiting_address", ahead),
        ],
    )
    async with engine.connect() as sender:
        # a sender deciding this step holds its row
        await sender.execute(
            sa.text("SELECT id FROM notify_messages WHERE id = :id FOR UPDATE"),
            {"id": f"{run}-held"},
        )
        async with engine.begin() as conn:
            # skipped, not waited for: a wait here would be a deadlock with that sender
            await asyncio.wait_for(store.wake_awaiting_address(conn, [customer], now), 30)
        await sender.rollback()
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.text("SELECT id, due_at, history FROM notify_messages WHERE id LIKE :run"),
                {"run": f"{run}-%"},
            )
        ).all()
    got = {r.id.removeprefix(f"{run}-"): (r.due_at, [h["reason"] for h in r.history]) for r in rows}
    assert got == {
        "waiting": (now, ["profile_arrived"]),
        "grace-over": (over, []),
        "held": (ahead, []),
        "due": (ahead, []),
        "other": (ahead, []),
    }
