"""Lifecycle processor benchmark without Kafka: the engine and its storage, beside a baseline.

Run: make infra && .venv/bin/python -m bench.lifecycle_engine [--events 100000 --customers 10000]
[--late-fraction 0.05] [--profile out.pstats]
It calls `LifecycleProcessor.handle` on batches of `--batch` events built in memory (as the
consumer hands them over), so the figures are the processing path alone: events/s, this
process's CPU per event and the local PostgreSQL server's CPU per event (bench/server_cpu.py,
the server on CLM_PG_PORT). Beside them, the same events through the baseline every batch
pays anyway: the dedup claim of their ids (`shared.dedup.claim_new`, one transaction per batch).
By default events arrive in random order of event time; `--late-fraction 0.05` delivers them in
event-time order except that fraction. The event-time watermark is reset first (a watermark
left by an earlier run lies after these events and would make every one of them late), and
the bench rows are removed afterwards. `--profile` writes cProfile statistics of the
processing (this process only) and prints the top functions by own time.
"""

import argparse
import asyncio
import cProfile
import os
import pstats
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from bench.lifecycle import DATABASE_URL, make_events
from bench.server_cpu import postgres_cpu_seconds
from services.lifecycle.domain import DomainEvent, load_rules
from services.lifecycle.service_layer.processing import LifecycleProcessor, domain_event
from services.lifecycle.settings import DEFAULT_RULES, ClockMode
from shared.db import make_engine
from shared.dedup import claim_new
from shared.events import customer_event_adapter
from shared.gc_tuning import tune_garbage_collector
from shared.kafka_consumer import Decoded

PG_PORT = int(os.environ.get("CLM_PG_PORT", "55432"))


@dataclass(frozen=True)
class Measured:
    events: int
    seconds: float
    cpu: float
    pg_cpu: float

    def line(self, label: str) -> str:
        n = self.events
        return (
            f"  {label:<34}: {n / self.seconds:9,.0f} events/s; CPU per event: process "
            f"{self.cpu / n * 1e6:5.0f} us, PostgreSQL {self.pg_cpu / n * 1e6:5.0f} us"
        )


async def measured(
    batches: list[list[Decoded[DomainEvent]]],
    handle: Callable[[list[Decoded[DomainEvent]]], Awaitable[object]],
) -> Measured:
    t0, cpu0, pg0 = time.perf_counter(), time.process_time(), postgres_cpu_seconds(PG_PORT)
    for batch in batches:
        await handle(batch)
    events = sum(len(b) for b in batches)
    return Measured(
        events,
        time.perf_counter() - t0,
        time.process_time() - cpu0,
        postgres_cpu_seconds(PG_PORT) - pg0,
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--late-fraction", type=float, default=None)
    parser.add_argument("--batch", type=int, default=2_000)
    parser.add_argument("--transactions", type=int, default=2, help="per batch, as the service")
    parser.add_argument("--profile", default=None, help="write cProfile statistics here")
    args = parser.parse_args()
    run = secrets.token_hex(4)
    raw = make_events(args.events, args.customers, run, args.late_fraction)
    events = [
        Decoded(None, domain_event(customer_event_adapter.validate_python(e)))  # type: ignore[arg-type]
        for e in raw
    ]
    batches = [events[i : i + args.batch] for i in range(0, len(events), args.batch)]
    del raw, events

    tune_garbage_collector()  # as the service's lifespan does
    engine = make_engine(DATABASE_URL, 5)
    conn = await asyncpg.connect(DATABASE_URL.replace("+asyncpg", ""))
    dedup_owner = f"bench-engine-{run}"
    baseline_owner = f"bench-engine-dedup-{run}"
    processor = LifecycleProcessor(
        engine, load_rules(DEFAULT_RULES), ClockMode.EVENT_TIME,
        wall_clock=lambda: datetime.now(UTC), dedup_owner=dedup_owner,
        outbox_service=f"bench-{run}", transactions_per_batch=args.transactions,
    )  # fmt: skip

    async def dedup_only(batch: list[Decoded[DomainEvent]]) -> None:
        async with engine.begin() as c:
            await claim_new(c, baseline_owner, [d.message.event_id for d in batch])

    try:
        await conn.execute("DELETE FROM lifecycle_watermark")
        baseline = await measured(batches, dedup_only)
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        processing = await measured(batches, processor.handle)
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
    finally:
        like = f"bench-{run}-%"
        for table in ("lifecycle_transitions", "lifecycle_facts", "lifecycle_customers"):
            await conn.execute(f"DELETE FROM {table} WHERE customer_id LIKE $1", like)
        for owner in (dedup_owner, baseline_owner):
            await conn.execute("DELETE FROM processed_events WHERE consumer = $1", owner)
        await conn.execute("DELETE FROM outbox WHERE service = $1", f"bench-{run}")
        await conn.execute("DELETE FROM lifecycle_watermark")
        await conn.close()
        await engine.dispose()

    arrival = (
        "random arrival order"
        if args.late_fraction is None
        else f"event-time order, {args.late_fraction:.0%} late"
    )
    print(
        f"\nlifecycle processor benchmark: {args.events:,} events for {args.customers:,} "
        f"customers ({arrival}; batches of {args.batch:,}, {args.transactions} transactions each)"
    )
    print(baseline.line("baseline: dedup claim only"))
    print(processing.line("LifecycleProcessor.handle"))
    print(
        f"  processing / baseline time: {processing.seconds / baseline.seconds:.1f}x; "
        f"CPU-bound ceiling on {len(os.sched_getaffinity(0))} cores: "
        f"{len(os.sched_getaffinity(0)) * processing.events / (processing.cpu + processing.pg_cpu):,.0f}"
        " events/s"
    )
    if args.profile:
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    asyncio.run(main())
