"""Lifecycle benchmark: sustained processing with durable state, beside two baselines.

Run: make infra && .venv/bin/python -m bench.lifecycle [--events 1000000 --customers 100000]
(a) raw aiokafka consume-only over the same topic, (b) asyncpg COPY of the same number of rows
(both in a child process), (c) the real consumer loop + LifecycleProcessor (each batch in
CLM_LIFECYCLE_TRANSACTIONS_PER_BATCH concurrent transactions), RSS of this process measured,
(d) the scheduler re-evaluating every bench customer forced due at the same clock (most change
nothing), (e) the scheduler with the clock moved 200 days on, when every one is truly due;
both in this process as the service runs it, or with `--scheduler-processes N` in N processes
(as N instances would: their claims skip each other's rows).
Beside each rate it prints the best that the measured CPU costs allow on this machine: one
process runs Python on one core; the process and PostgreSQL together have every core.
Uses a scratch topic and a scratch outbox name; removes its rows afterwards.

By default events arrive in random order of event time (most arrive after a later event of
the same customer: a full replay each time); `--late-fraction 0.05` delivers them in
event-time order except that fraction, which arrives late.
Stop the running stack's lifecycle service first: its wall-clock scheduler claims due rows too.
"""

import argparse
import asyncio
import multiprocessing
import os
import random
import secrets
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.server_cpu import postgres_cpu_seconds
from services.lifecycle.domain import DomainEvent, load_rules
from services.lifecycle.processing import LifecycleProcessor, decode
from services.lifecycle.settings import DEFAULT_RULES, ClockMode, LifecycleSettings
from shared.cloudevents import to_kafka
from shared.customer_event_codec import to_cloudevent
from shared.db import make_engine
from shared.events import customer_event_adapter
from shared.gc_tuning import tune_garbage_collector
from shared.kafka_admin import delete_topics, ensure_topics
from shared.kafka_consumer import BatchConsumer, Decoded, GroupMembers, Poison
from shared.kafka_producer import KafkaPublisher
from shared.topics import TopicSpec, dlq_of

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# The cores this process may run on: what the CPU costs measured here can be spread over.
CORES = len(os.sched_getaffinity(0))
DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql+asyncpg://clm:clm@127.0.0.1:55432/clm")


def make_events(
    n: int, customers: int, run: str, late_fraction: float | None = None
) -> list[dict[str, object]]:
    rng = random.Random(7)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    out: list[dict[str, object]] = []
    for i in range(n):
        customer = f"bench-{run}-{rng.randrange(customers)}"
        at = start + timedelta(minutes=rng.randrange(365 * 24 * 60))
        out.append(
            {
                "event_id": f"{run}-{i}",
                "type": "purchase",
                "customer_id": customer,
                "occurred_at": at.isoformat(),
                "data": {
                    "order_id": f"o{i}",
                    "amount": f"{rng.randrange(1, 500)}.00",
                    "currency": "CNY",
                },
            }
        )
    if late_fraction is not None:
        arrival = {
            e["event_id"]: i + (rng.randrange(n) if rng.random() < late_fraction else 0)
            for i, e in enumerate(sorted(out, key=lambda e: str(e["occurred_at"])))
        }
        out.sort(key=lambda e: arrival[e["event_id"]])
    return out


async def preload(topic: str, events: list[dict[str, object]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP, acks="all", compression_type="lz4", linger_ms=20,
        max_batch_size=1024 * 1024,
    )  # fmt: skip
    await producer.start()
    try:
        futures = []
        for e in events:
            r = to_kafka(topic, to_cloudevent(customer_event_adapter.validate_python(e)))
            futures.append(await producer.send(r.topic, r.value, key=r.key, headers=r.headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def preload_in_child(topic: str, n: int, customers: int, run: str, late: float | None) -> None:
    """Generates and publishes the events in a child process, so that their memory does not
    count in the RSS measured for the processing."""
    asyncio.run(preload(topic, make_events(n, customers, run, late)))


def baselines_in_child(topic: str, total: int) -> tuple[float, float]:
    """(a) and (b) in a child process, so that their memory does not count in the RSS
    measured for the processing: events/s consumed, rows/s copied."""
    return asyncio.run(consume_only(topic, total)), asyncio.run(copy_rows(total))


async def consume_only(topic: str, total: int) -> float:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=BOOTSTRAP, group_id=f"bench-raw-{secrets.token_hex(4)}",
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    seen, started = 0, time.perf_counter()
    try:
        while seen < total:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            seen += sum(len(v) for v in batch.values())
    finally:
        await consumer.stop()
    return total / (time.perf_counter() - started)


async def copy_rows(total: int) -> float:
    conn = await asyncpg.connect(DATABASE_URL.replace("+asyncpg", ""))
    try:
        await conn.execute(
            "CREATE TEMP TABLE bench_copy (customer_id text, facts jsonb, at timestamptz)"
        )
        now = datetime.now(UTC)
        rows = [(f"c{i}", '{"v": 1}', now) for i in range(total)]
        started = time.perf_counter()
        await conn.copy_records_to_table("bench_copy", records=rows)
        return total / (time.perf_counter() - started)
    finally:
        await conn.close()


async def vacuum_bench_tables() -> None:
    conn = await asyncpg.connect(DATABASE_URL.replace("+asyncpg", ""))
    try:
        for table in ("lifecycle_customers", "lifecycle_transitions", "outbox", "processed_events"):
            await conn.execute(f"VACUUM (ANALYZE) {table}")
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--late-fraction", type=float, default=None)
    parser.add_argument(
        "--scheduler-processes", type=int, default=1,
        help="run (d) and (e) in this many processes (as as many instances would); 1: in this one",
    )  # fmt: skip
    args = parser.parse_args()
    run = secrets.token_hex(4)
    topic = f"bench.lifecycle.{run}"
    await ensure_topics(BOOTSTRAP, 12, [TopicSpec(topic, {}), TopicSpec(dlq_of(topic), {})])
    child = multiprocessing.get_context("spawn").Process(
        target=preload_in_child,
        args=(topic, args.events, args.customers, run, args.late_fraction),
    )
    child.start()
    await asyncio.to_thread(child.join)
    if child.exitcode != 0:
        raise SystemExit(f"preloading the topic failed (exit code {child.exitcode})")

    await vacuum_bench_tables()  # earlier runs' deleted rows would slow this one down
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        baselines = pool.submit(baselines_in_child, topic, args.events)
        raw_rate, copy_rate = await asyncio.wrap_future(baselines)

    settings = LifecycleSettings()
    tune_garbage_collector()  # as the service's lifespan does
    engine = make_engine(DATABASE_URL, 5)
    group = f"bench-lifecycle-{run}"
    processor = bench_processor(engine, run, None)
    publisher = KafkaPublisher(BOOTSTRAP, "bench-lifecycle")
    handled = 0

    async def handle(batch: list[Decoded[DomainEvent]]) -> list[Poison]:
        nonlocal handled
        poison = await processor.handle(batch)
        handled += len(batch)  # committed: handle returns after its transaction
        return poison

    consumer = GroupMembers(  # as the service runs it (CLM_LIFECYCLE_CONSUMER_MEMBERS)
        settings.consumer_members,
        lambda n: BatchConsumer(
            bootstrap_servers=BOOTSTRAP, topic=topic, group_id=group, decode=decode,
            handle=handle, dlq=publisher, max_records=settings.consumer_max_records,
            fetch_max_bytes=settings.consumer_fetch_max_bytes,
        ),
    )  # fmt: skip
    process = psutil.Process()
    rss_before = peak_rss = process.memory_info().rss
    task = asyncio.create_task(consumer.run())
    await consumer.wait_started()
    started, cpu_started = time.perf_counter(), time.process_time()
    pg_started = postgres_cpu_seconds()
    conn = await asyncpg.connect(DATABASE_URL.replace("+asyncpg", ""))
    try:
        while handled < args.events:
            peak_rss = max(peak_rss, process.memory_info().rss)
            await asyncio.sleep(0.2)  # progress sampling of a benchmark, not test synchronisation
        process_rate = args.events / (time.perf_counter() - started)
        cpu_per_event = (time.process_time() - cpu_started) / args.events
        pg_per_event = (postgres_cpu_seconds() - pg_started) / args.events
        consumer.stop()
        await task

        await conn.execute(
            "UPDATE lifecycle_customers SET next_due_at = '2000-01-01' WHERE customer_id LIKE $1",
            f"bench-{run}-%",
        )
        still_due = (
            "SELECT count(*) FROM lifecycle_customers "
            "WHERE customer_id LIKE $1 AND next_due_at <= '2000-01-01'"
        )
        due = await conn.fetchval(still_due, f"bench-{run}-%")
        processes = args.scheduler_processes
        forced = await run_scheduler(processes, processor, run, None)
        # Then truly due: the clock 200 days on, every bench customer has churned meanwhile.
        watermark = await conn.fetchval("SELECT event_time FROM lifecycle_watermark WHERE id = 1")
        later = watermark + timedelta(days=200)
        truly_due = await run_scheduler(processes, bench_processor(engine, run, later), run, later)
    finally:
        for sql in (
            "DELETE FROM lifecycle_transitions WHERE customer_id LIKE $1",
            "DELETE FROM lifecycle_customers WHERE customer_id LIKE $1",
        ):
            await conn.execute(sql, f"bench-{run}-%")
        await conn.execute("DELETE FROM processed_events WHERE consumer = $1", group)
        await conn.execute("DELETE FROM outbox WHERE service = $1", f"bench-{run}")
        await conn.close()
        await publisher.stop()
        await engine.dispose()
        await delete_topics(BOOTSTRAP, [topic, dlq_of(topic)])  # scratch topics pile up otherwise

    arrival = (
        "random arrival order"
        if args.late_fraction is None
        else f"event-time order, {args.late_fraction:.0%} late"
    )
    print(
        f"\nlifecycle benchmark: {args.events:,} events for {args.customers:,} customers "
        f"({arrival}; batches of {settings.consumer_max_records:,}, "
        f"{settings.consumer_members} group members, "
        f"{settings.transactions_per_batch} transactions each)"
    )
    print(f"  (a) raw aiokafka consume-only  : {raw_rate:10,.0f} events/s")
    print(f"  (b) asyncpg COPY of as many rows: {copy_rate:10,.0f} rows/s")
    print(
        f"  (c) lifecycle processing (durable): {process_rate:10,.0f} events/s "
        f"= {process_rate / raw_rate:.2f}x consume-only   [required >= 10,000/s: "
        f"{'OK' if process_rate >= 10_000 else 'NOT MET'}]"
    )
    print(f"      CPU of the process per event: {cpu_per_event * 1e6:8.0f} us")
    print(f"      PostgreSQL CPU per event    : {pg_per_event * 1e6:8.0f} us")
    print(
        f"      CPU-bound ceilings at these costs: {1 / cpu_per_event:,.0f} events/s for one "
        f"process (one core), {CORES / (cpu_per_event + pg_per_event):,.0f} for the machine "
        f"({CORES} cores for the process and PostgreSQL; the broker not counted)"
    )
    print(
        f"      peak RSS of the process     : {peak_rss / 2**20:8.0f} MB   [required <= 300 MB]"
        f" (before the first batch: {rss_before / 2**20:.0f} MB)"
    )
    print(
        f"  (d) scheduler ({processes} process{'es' if processes > 1 else ''} x "
        f"{settings.scheduler_workers} workers), forced due ({due:,} bench rows"
    )
    print("      set due at the same clock, so most change nothing):")
    forced.report()
    print(
        f"  (e) scheduler, truly due: the clock {(later - watermark).days} days on, past every"
        " bench customer's churn"
    )
    truly_due.report()


@dataclass(frozen=True)
class SchedulerRun:
    evaluated: int
    seconds: float
    cpu_per_customer: float
    pg_per_customer: float

    @classmethod
    def of(cls, evaluated: int, seconds: float, cpu: float, pg_started: float) -> "SchedulerRun":
        per = max(evaluated, 1)
        return cls(evaluated, seconds, cpu / per, (postgres_cpu_seconds() - pg_started) / per)

    def report(self) -> None:
        per_100k = self.seconds * 100_000 / max(self.evaluated, 1)
        print(
            f"      {self.evaluated:,} customers in {self.seconds:.1f} s "
            f"(scaled to 100,000: {per_100k:.1f} s; required <= 10 s); CPU per customer: "
            f"process {self.cpu_per_customer * 1e6:.0f} us, PostgreSQL "
            f"{self.pg_per_customer * 1e6:.0f} us"
        )
        print(
            f"      CPU-bound floors at these costs, per 100,000: {self.cpu_per_customer * 1e5:.1f} s"
            f" for one process, {(self.cpu_per_customer + self.pg_per_customer) * 1e5 / CORES:.1f} s"
            f" for the machine ({CORES} cores)"
        )


def bench_processor(engine: AsyncEngine, run: str, clock: datetime | None) -> LifecycleProcessor:
    """The processor under test: the event-time clock, or the wall clock stopped at `clock`."""
    settings = LifecycleSettings()
    return LifecycleProcessor(
        engine, load_rules(DEFAULT_RULES),
        ClockMode.EVENT_TIME if clock is None else ClockMode.WALL,
        wall_clock=(lambda: clock) if clock is not None else lambda: datetime.now(UTC),
        dedup_owner=f"bench-lifecycle-{run}", outbox_service=f"bench-{run}",
        transactions_per_batch=settings.transactions_per_batch,
    )  # fmt: skip


async def run_scheduler(
    processes: int, processor: LifecycleProcessor, run: str, clock: datetime | None
) -> SchedulerRun:
    """The service's scheduler workers (CLM_LIFECYCLE_SCHEDULER_WORKERS) until nothing is due:
    in this process with `processor`, or in `processes` child processes with one like it."""
    if processes == 1:
        t0, pg0 = time.perf_counter(), postgres_cpu_seconds()
        evaluated, cpu = await scheduler_workers(processor)
        return SchedulerRun.of(evaluated, time.perf_counter() - t0, cpu, pg0)
    spawn = multiprocessing.get_context("spawn")
    ready, results, start, finish = spawn.Queue(), spawn.Queue(), spawn.Event(), spawn.Event()
    children = [
        spawn.Process(target=scheduler_in_child, args=(run, clock, ready, start, results, finish))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    for _ in children:  # spawning and imports are not timed
        await asyncio.to_thread(ready.get, True, 120)
    t0, pg0 = time.perf_counter(), postgres_cpu_seconds()
    start.set()
    outcomes = [await asyncio.to_thread(results.get, True, 600) for _ in children]
    evaluated, cpu = sum(n for n, _ in outcomes), sum(c for _, c in outcomes)
    # Measured before the children close their connections: a closed backend's CPU is gone.
    measured = SchedulerRun.of(evaluated, time.perf_counter() - t0, cpu, pg0)
    finish.set()
    for child in children:
        await asyncio.to_thread(child.join)
    return measured


def scheduler_in_child(
    run: str, clock: datetime | None, ready: Any, start: Any, results: Any, finish: Any
) -> None:
    """One scheduler process of `run_scheduler`: reports ready, waits for `start`, puts
    (customers evaluated, CPU seconds) on `results` and keeps its connections until `finish`."""

    async def scheduler() -> None:
        tune_garbage_collector()  # as the service's lifespan does
        engine = make_engine(DATABASE_URL, 5)
        try:
            processor = bench_processor(engine, run, clock)
            async with engine.connect():  # the pool's first connection, before the clock starts
                pass
            ready.put(os.getpid())
            await asyncio.to_thread(start.wait)
            results.put(await scheduler_workers(processor))
            await asyncio.to_thread(finish.wait)
        finally:
            await engine.dispose()

    asyncio.run(scheduler())


async def scheduler_workers(processor: LifecycleProcessor) -> tuple[int, float]:
    """(customers evaluated, CPU seconds of this process) by the service's scheduler workers."""
    settings = LifecycleSettings()
    cpu0 = time.process_time()

    async def worker() -> int:
        evaluated = 0  # by this worker: bench rows and any other due rows it claimed
        while n := await processor.evaluate_due(settings.scheduler_batch_size):
            evaluated += n  # until nothing is due (or the rest is locked by another)
        return evaluated

    evaluated = sum(await asyncio.gather(*(worker() for _ in range(settings.scheduler_workers))))
    return evaluated, time.process_time() - cpu0


if __name__ == "__main__":
    asyncio.run(main())
