"""Lifecycle scheduler benchmark without Kafka: truly due customers, re-run on the same rows.

Run: make infra && .venv/bin/python -m bench.lifecycle_scheduler [--events 100000
--customers 20000] [--late-fraction 0.05] [--repeat 3] [--profile out.pstats]
Loads the events through `LifecycleProcessor.handle` (the wall clock stopped at the last event), keeps a
copy of the bench customers' rows, then `--repeat` times: restores the rows, moves the clock 200
days past the last event (every customer churns: truly due) and runs the service's scheduler
workers (CLM_LIFECYCLE_SCHEDULER_WORKERS, batches of CLM_LIFECYCLE_SCHEDULER_BATCH_SIZE) until
nothing is due. Prints, per run, seconds per 100,000 due customers and the CPU per customer of
this process and of the local PostgreSQL server (bench/server_cpu.py, the server on CLM_PG_PORT;
CPU per customer = CPU seconds / customers evaluated, in microseconds). The same rows each run,
so two versions of the code compare by their CPU per customer, run one after the other (the
scheduler claims every due row of the database: runs must not overlap).
The bench rows are removed afterwards.
"""

import argparse
import asyncio
import cProfile
import pstats
import secrets
import time
from datetime import timedelta

import asyncpg

from bench.lifecycle import DATABASE_URL, PG_PORT, make_events, scheduler_workers
from bench.server_cpu import postgres_cpu_seconds
from services.lifecycle.domain import load_rules
from services.lifecycle.service_layer.processing import LifecycleProcessor, domain_event
from services.lifecycle.settings import DEFAULT_RULES, ClockMode
from shared.db import make_engine
from shared.events import customer_event_adapter
from shared.gc_tuning import tune_garbage_collector
from shared.kafka_consumer import Decoded


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--late-fraction", type=float, default=0.05)
    parser.add_argument("--batch", type=int, default=5_000, help="events per loading batch")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", default=None, help="cProfile the last run into this file")
    args = parser.parse_args()
    run = secrets.token_hex(4)
    like = f"bench-{run}-%"
    snapshot = f"bench_scheduler_rows_{run}"  # per run: a killed run's table stays apart
    raw = make_events(args.events, args.customers, run, args.late_fraction)
    events = [
        Decoded(None, domain_event(customer_event_adapter.validate_python(e)))  # type: ignore[arg-type]
        for e in raw
    ]
    del raw
    # The wall clock stopped at the last event: the shared event-time watermark is left alone.
    last = max(d.message.occurred_at for d in events)
    tune_garbage_collector()  # as the service's lifespan does
    engine = make_engine(DATABASE_URL, 5)
    conn = await asyncpg.connect(DATABASE_URL.replace("+asyncpg", ""))
    rules = load_rules(DEFAULT_RULES)
    loader = LifecycleProcessor(
        engine, rules, ClockMode.WALL, wall_clock=lambda: last,
        dedup_owner=f"bench-scheduler-{run}", outbox_service=f"bench-{run}",
    )  # fmt: skip
    try:
        for start in range(0, len(events), args.batch):
            await loader.handle(events[start : start + args.batch])
        later = last + timedelta(days=200)
        await conn.execute(f"DROP TABLE IF EXISTS {snapshot}")
        await conn.execute(
            f"CREATE TABLE {snapshot} AS SELECT * FROM lifecycle_customers WHERE customer_id LIKE $1",
            like,
        )
        await conn.execute(f"DROP TABLE IF EXISTS {snapshot}_transitions")
        await conn.execute(
            f"CREATE TABLE {snapshot}_transitions AS SELECT * FROM lifecycle_transitions "
            "WHERE customer_id LIKE $1",
            like,
        )
        transitions = await conn.fetchval(f"SELECT count(*) FROM {snapshot}_transitions")
        await conn.execute("DELETE FROM outbox WHERE service = $1", f"bench-{run}")
        processor = LifecycleProcessor(
            engine, rules, ClockMode.WALL, wall_clock=lambda: later,
            outbox_service=f"bench-{run}",
        )  # fmt: skip
        print(
            f"\nlifecycle scheduler benchmark: {args.customers:,} customers from "
            f"{args.events:,} events ({transitions:,} transitions stored), the clock "
            f"{(later - last).days} days past the last event"
        )
        for n in range(1, args.repeat + 1):
            await restore(conn, run, snapshot)
            await conn.execute("VACUUM (ANALYZE) lifecycle_customers")
            profiler = cProfile.Profile() if args.profile and n == args.repeat else None
            t0, pg0 = time.perf_counter(), postgres_cpu_seconds(PG_PORT)
            if profiler:
                profiler.enable()
            evaluated, cpu = await scheduler_workers(processor)
            if profiler:
                profiler.disable()
            seconds, pg = time.perf_counter() - t0, postgres_cpu_seconds(PG_PORT) - pg0
            published = await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE service = $1", f"bench-{run}"
            )
            per = max(evaluated, 1)
            print(
                f"  run {n}: {evaluated:,} customers in {seconds:.2f} s (scaled to 100,000: "
                f"{seconds * 100_000 / per:.1f} s); {published:,} changes published; CPU per "
                f"customer: process {cpu / per * 1e6:.0f} us, PostgreSQL {pg / per * 1e6:.0f} us"
                + (" (profiled)" if profiler else "")
            )
            if profiler:
                profiler.dump_stats(args.profile)
    finally:
        for table in ("lifecycle_transitions", "lifecycle_facts", "lifecycle_customers"):
            await conn.execute(f"DELETE FROM {table} WHERE customer_id LIKE $1", like)
        await conn.execute(
            "DELETE FROM processed_events WHERE consumer = $1", f"bench-scheduler-{run}"
        )
        await conn.execute("DELETE FROM outbox WHERE service = $1", f"bench-{run}")
        await conn.execute(f"DROP TABLE IF EXISTS {snapshot}")
        await conn.execute(f"DROP TABLE IF EXISTS {snapshot}_transitions")
        await conn.close()
        await engine.dispose()
    if args.profile:
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(30)


async def restore(conn: asyncpg.Connection, run: str, snapshot: str) -> None:
    """The bench customers as loaded: their rows, no clock transitions, no outbox rows."""
    like = f"bench-{run}-%"
    async with conn.transaction():
        await conn.execute("DELETE FROM lifecycle_customers WHERE customer_id LIKE $1", like)
        await conn.execute(f"INSERT INTO lifecycle_customers SELECT * FROM {snapshot}")
        await conn.execute("DELETE FROM lifecycle_transitions WHERE customer_id LIKE $1", like)
        await conn.execute(
            f"INSERT INTO lifecycle_transitions SELECT * FROM {snapshot}_transitions"
        )
        await conn.execute("DELETE FROM outbox WHERE service = $1", f"bench-{run}")


if __name__ == "__main__":
    asyncio.run(main())
