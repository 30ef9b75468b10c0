"""Lifecycle benchmark: sustained processing with durable state, beside two baselines.

Run: make infra && .venv/bin/python -m bench.lifecycle [--events 1000000 --customers 100000]
(a) raw aiokafka consume-only over the same topic, (b) asyncpg COPY of the same number of rows
(both in a child process), (c) the real consumer loop + LifecycleProcessor (each batch in
CLM_LIFECYCLE_TRANSACTIONS_PER_BATCH concurrent transactions), RSS of this process measured,
(d) the scheduler re-evaluating every bench customer forced due at the same clock (most change
nothing), (e) the scheduler with the clock moved 200 days on, when every one is truly due;
both in this process as the service runs it, or with `--scheduler-processes N` in N processes
(as N instances would: their claims skip each other's rows). `--processes N` likewise runs (c)
in N processes of one consumer group.
Beside each rate it prints the best that the measured CPU costs allow on this machine: one
process runs Python on one core; the process and PostgreSQL together have every core.
Uses a scratch topic and a scratch outbox name; removes its rows afterwards. It resets the
event-time watermark first (`lifecycle_watermark`: an earlier run's lies after these events)
and removes its scratch topic's partition clocks (`lifecycle_partition_clocks`) afterwards.

By default events arrive in random order of event time (most arrive after a later event of
the same customer: a full replay each time); `--late-fraction 0.05` delivers them in
event-time order except that fraction, which arrives late.
Stop the running stack's lifecycle service first: its wall-clock scheduler claims due rows too.
"""

import argparse
import asyncio
import cProfile
import multiprocessing
import os
import random
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.server_cpu import postgres_cpu_seconds
from services.lifecycle.domain import DomainEvent, load_rules
from services.lifecycle.service_layer.processing import LifecycleProcessor, decode
from services.lifecycle.settings import DEFAULT_RULES, ClockMode, LifecycleSettings
from shared.cloudevents import to_kafka
from shared.customer_event_codec import to_cloudevent
from shared.db import make_engine
from shared.events import customer_event_adapter
from shared.gc_tuning import tune_garbage_collector
from shared.kafka_admin import delete_topics, ensure_topics
from shared.kafka_consumer import BatchConsumer, BatchHandler, Decoded, GroupMembers, Poison
from shared.kafka_producer import KafkaPublisher
from shared.topics import TopicSpec, dlq_of

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# The cores this process may run on: what the CPU costs measured here can be spread over.
CORES = len(os.sched_getaffinity(0))
DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql+asyncpg://clm:clm@127.0.0.1:55432/clm")
# The local server's CPU only (other servers on a shared machine would count otherwise).
PG_PORT = int(os.environ.get("CLM_PG_PORT", "55432"))


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


async def reset_watermark() -> None:
    """Forgets the event-time clock: one left by an earlier run (or other data) lies after the
    bench events, so every one of them would arrive late and replay."""
    conn = await asyncpg.connect(DATABASE_URL.replace("+asyncpg", ""))
    try:
        await conn.execute("DELETE FROM lifecycle_watermark")
    finally:
        await conn.close()


async def vacuum_bench_tables() -> None:
    conn = await asyncpg.connect(DATABASE_URL.replace("+asyncpg", ""))
    try:
        for table in (
            "lifecycle_customers",
            "lifecycle_transitions",
            "lifecycle_facts",
            "outbox",
            "processed_events",
        ):
            await conn.execute(f"VACUUM (ANALYZE) {table}")
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--late-fraction", type=float, default=None)
    parser.add_argument(
        "--processes", type=int, default=1,
        help="consume in this many processes (as as many instances in one group would)",
    )  # fmt: skip
    parser.add_argument(
        "--scheduler-processes", type=int, default=1,
        help="run (d) and (e) in this many processes (as as many instances would); 1: in this one",
    )  # fmt: skip
    parser.add_argument(
        "--scheduler-only", action="store_true",
        help="skip the baselines (a) and (b): load the events through (c), then (d) and (e)",
    )  # fmt: skip
    parser.add_argument(
        "--profile", metavar="FILE", default=None,
        help="cProfile (c) in this process into FILE (with --processes 1)",
    )  # fmt: skip
    parser.add_argument(
        "--profile-scheduler", metavar="FILE", default=None,
        help="cProfile (e) in this process into FILE (with --scheduler-processes 1)",
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

    await reset_watermark()
    await vacuum_bench_tables()  # earlier runs' deleted rows would slow this one down
    raw_rate, copy_rate = float("nan"), float("nan")
    if not args.scheduler_only:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            baselines = pool.submit(baselines_in_child, topic, args.events)
            raw_rate, copy_rate = await asyncio.wrap_future(baselines)

    settings = LifecycleSettings()
    tune_garbage_collector()  # as the service's lifespan does
    engine = make_engine(DATABASE_URL, 5)
    group = f"bench-lifecycle-{run}"
    processor = bench_processor(engine, run, None)
    conn = await asyncpg.connect(DATABASE_URL.replace("+asyncpg", ""))
    try:
        if args.processes == 1:
            processing = await process_here(processor, topic, group, args.events, args.profile)
        else:
            processing = await process_in_processes(args.processes, topic, run, args.events)

        published = await conn.fetchrow(
            "SELECT count(*) AS changes, count(*) FILTER (WHERE position("
            "'\"retracts\":\"' IN convert_from(value, 'UTF8')) > 0) AS corrections "
            "FROM outbox WHERE service = $1",
            f"bench-{run}",
        )
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
        truly_processor = bench_processor(engine, run, later)
        profiler = cProfile.Profile() if args.profile_scheduler else None
        if profiler is not None:
            profiler.enable()
        truly_due = await run_scheduler(processes, truly_processor, run, later)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile_scheduler)
    finally:
        for sql in (
            "DELETE FROM lifecycle_transitions WHERE customer_id LIKE $1",
            "DELETE FROM lifecycle_facts WHERE customer_id LIKE $1",
            "DELETE FROM lifecycle_customers WHERE customer_id LIKE $1",
        ):
            await conn.execute(sql, f"bench-{run}-%")
        await conn.execute("DELETE FROM processed_events WHERE consumer = $1", group)
        await conn.execute("DELETE FROM outbox WHERE service = $1", f"bench-{run}")
        await conn.execute("DELETE FROM lifecycle_partition_clocks WHERE topic = $1", topic)
        await conn.close()
        await engine.dispose()
        await delete_topics(BOOTSTRAP, [topic, dlq_of(topic)])  # scratch topics pile up otherwise

    arrival = (
        "random arrival order"
        if args.late_fraction is None
        else f"event-time order, {args.late_fraction:.0%} late"
    )
    print(
        f"\nlifecycle benchmark: {args.events:,} events for {args.customers:,} customers "
        f"({arrival}; batches of {settings.consumer_max_records:,}, {args.processes} "
        f"process{'es' if args.processes > 1 else ''} of {settings.consumer_members} group members, "
        f"{settings.transactions_per_batch} transactions each)"
    )
    print(f"  (a) raw aiokafka consume-only  : {raw_rate:10,.0f} events/s")
    print(f"  (b) asyncpg COPY of as many rows: {copy_rate:10,.0f} rows/s")
    processing.report(raw_rate)
    print(
        f"      lifecycle changes published: {published['changes']:,}, of which corrections"
        f" (a transition retracted by an event that came after the clock had passed it):"
        f" {published['corrections']:,}"
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
        return cls(
            evaluated, seconds, cpu / per, (postgres_cpu_seconds(PG_PORT) - pg_started) / per
        )

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


@dataclass(frozen=True)
class ProcessingRun:
    rate: float
    cpu_per_event: float
    """Of the consuming processes together."""
    pg_per_event: float
    peak_rss: int
    """Of the consuming processes together (sampled every 0.2 s)."""
    rss_before: int
    processes: int = 1
    peak_rss_each: int = 0
    """The largest peak of one of them (when there are several)."""

    def report(self, raw_rate: float) -> None:
        rate, cpu, pg = self.rate, self.cpu_per_event, self.pg_per_event
        print(
            f"  (c) lifecycle processing (durable): {rate:10,.0f} events/s "
            f"= {rate / raw_rate:.2f}x consume-only   [required >= 0.10x and >= 15,000/s: "
            f"{'OK' if rate >= 15_000 and rate >= 0.1 * raw_rate else 'NOT MET'}]"
        )
        n = self.processes
        of = "the process" if n == 1 else f"the {n} processes together"
        print(f"      CPU of {of} per event: {cpu * 1e6:8.0f} us")
        print(f"      PostgreSQL CPU per event: {pg * 1e6:8.0f} us")
        print(
            f"      CPU-bound ceilings at these costs: {min(n, CORES) / cpu:,.0f} events/s for "
            f"{n} process{'es' if n > 1 else ''} (a core each), {CORES / (cpu + pg):,.0f} for the "
            f"machine ({CORES} cores for the service and PostgreSQL; the broker not counted)"
        )
        each = f", the largest one alone {self.peak_rss_each / 2**20:.0f} MB" if n > 1 else ""
        print(
            f"      peak RSS of {of}: {self.peak_rss / 2**20:8.0f} MB{each}   "
            f"[required <= 300 MB] (before the first batch: {self.rss_before / 2**20:.0f} MB)"
        )


def bench_consumer(
    topic: str, group: str, handle: BatchHandler[DomainEvent], publisher: KafkaPublisher
) -> GroupMembers:
    settings = LifecycleSettings()
    return GroupMembers(  # as the service runs it (CLM_LIFECYCLE_CONSUMER_MEMBERS)
        settings.consumer_members,
        lambda n: BatchConsumer(
            bootstrap_servers=BOOTSTRAP, topic=topic, group_id=group, decode=decode,
            handle=handle, dlq=publisher, max_records=settings.consumer_max_records,
            fetch_max_bytes=settings.consumer_fetch_max_bytes, reports_progress=True,
        ),
    )  # fmt: skip


async def process_here(
    processor: LifecycleProcessor, topic: str, group: str, total: int, profile: str | None = None
) -> ProcessingRun:
    """(c) in this process, as one instance of the service runs it; cProfiled into `profile`."""
    publisher = KafkaPublisher(BOOTSTRAP, "bench-lifecycle")
    handled = 0

    async def handle(batch: list[Decoded[DomainEvent]]) -> list[Poison]:
        nonlocal handled
        poison = await processor.handle(batch)
        handled += len(batch)  # committed: handle returns after its transaction
        return poison

    consumer = bench_consumer(topic, group, handle, publisher)
    process = psutil.Process()
    rss_before = peak_rss = process.memory_info().rss
    task = asyncio.create_task(consumer.run())
    try:
        await consumer.wait_started()
        started, cpu_started = time.perf_counter(), time.process_time()
        pg_started = postgres_cpu_seconds(PG_PORT)
        profiler = cProfile.Profile() if profile else None
        if profiler is not None:
            profiler.enable()
        while handled < total:
            peak_rss = max(peak_rss, process.memory_info().rss)
            await asyncio.sleep(0.2)  # progress sampling of a benchmark, not test synchronisation
        if profiler is not None and profile is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        return ProcessingRun(
            total / (time.perf_counter() - started),
            (time.process_time() - cpu_started) / total,
            (postgres_cpu_seconds(PG_PORT) - pg_started) / total,
            peak_rss,
            rss_before,
        )
    finally:
        consumer.stop()
        await task
        await publisher.stop()


async def process_in_processes(processes: int, topic: str, run: str, total: int) -> ProcessingRun:
    """(c) in `processes` child processes of one consumer group, as as many instances would.

    Progress is what the group committed (Kafka offsets). The children join the group when all
    of them are ready, so the time includes joining it (a few seconds; one instance excludes it)."""
    children = Children(processes, processing_in_child, topic, run)
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        members = [psutil.Process(pid) for pid in await children.ready()]
        rss_before = peak_rss = sum(m.memory_info().rss for m in members)
        peak_each = 0
        group = f"bench-lifecycle-{run}"
        started, pg_started = time.perf_counter(), postgres_cpu_seconds(PG_PORT)
        children.start.set()
        done = 0
        while done < total:
            rss = [m.memory_info().rss for m in members]
            peak_rss, peak_each = max(peak_rss, sum(rss)), max(peak_each, *rss)
            await asyncio.sleep(0.2)  # progress sampling of a benchmark, not test synchronisation
            done = await committed(admin, group, topic)
        seconds = time.perf_counter() - started
        pg_seconds = postgres_cpu_seconds(PG_PORT) - pg_started  # before the children disconnect
        children.stop.set()
        cpu_seconds = sum(await children.outcomes())
    finally:
        await children.end()
        await admin.close()
    return ProcessingRun(
        total / seconds, cpu_seconds / total, pg_seconds / total, peak_rss, rss_before,
        processes, peak_each,
    )  # fmt: skip


async def committed(admin: AIOKafkaAdminClient, group: str, topic: str) -> int:
    """Records of `topic` the group has committed (the topic's offsets start at 0)."""
    offsets = await admin.list_consumer_group_offsets(group)
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)


def processing_in_child(topic: str, run: str, signals: "ChildSignals") -> None:
    """One consuming process of `process_in_processes`: reports ready, joins the group at
    `start`, and puts its CPU seconds from `start` to `stop` on `results`."""

    async def consume() -> None:
        tune_garbage_collector()  # as the service's lifespan does
        engine = make_engine(DATABASE_URL, 5)
        publisher = KafkaPublisher(BOOTSTRAP, "bench-lifecycle")
        processor = bench_processor(engine, run, None)
        consumer = bench_consumer(topic, f"bench-lifecycle-{run}", processor.handle, publisher)
        signals.ready.put(os.getpid())
        await asyncio.to_thread(signals.start.wait)
        cpu_started = time.process_time()
        task = asyncio.create_task(consumer.run())
        try:
            await asyncio.to_thread(signals.stop.wait)
            signals.results.put(time.process_time() - cpu_started)
        finally:
            consumer.stop()
            await task
            await publisher.stop()
            await engine.dispose()

    asyncio.run(consume())


@dataclass(frozen=True)
class ChildSignals:
    """How a bench child process and its parent keep step: the child puts its pid on `ready`,
    works from `start`, puts its outcome on `results`, and ends at `stop`."""

    ready: Any
    start: Any
    stop: Any
    results: Any


class Children:
    """`n` spawned processes of `target(*args, signals)`, all with the same `ChildSignals`."""

    def __init__(self, n: int, target: Callable[..., None], *args: object) -> None:
        spawn = multiprocessing.get_context("spawn")
        self.signals = ChildSignals(spawn.Queue(), spawn.Event(), spawn.Event(), spawn.Queue())
        self.start, self.stop = self.signals.start, self.signals.stop
        self._processes = [
            spawn.Process(target=target, args=(*args, self.signals)) for _ in range(n)
        ]
        for process in self._processes:
            process.start()

    async def ready(self) -> list[int]:
        return [await asyncio.to_thread(self.signals.ready.get, True, 300) for _ in self._processes]

    async def outcomes(self) -> list[Any]:
        return [
            await asyncio.to_thread(self.signals.results.get, True, 900) for _ in self._processes
        ]

    async def end(self) -> None:
        self.stop.set()
        for process in self._processes:
            await asyncio.to_thread(process.join)


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
        t0, pg0 = time.perf_counter(), postgres_cpu_seconds(PG_PORT)
        evaluated, cpu = await scheduler_workers(processor)
        return SchedulerRun.of(evaluated, time.perf_counter() - t0, cpu, pg0)
    children = Children(processes, scheduler_in_child, run, clock)
    try:
        await children.ready()  # spawning and imports are not timed
        t0, pg0 = time.perf_counter(), postgres_cpu_seconds(PG_PORT)
        children.start.set()
        outcomes = await children.outcomes()
        evaluated, cpu = sum(n for n, _ in outcomes), sum(c for _, c in outcomes)
        # Measured before the children close their connections: a closed backend's CPU is gone.
        return SchedulerRun.of(evaluated, time.perf_counter() - t0, cpu, pg0)
    finally:
        await children.end()


def scheduler_in_child(run: str, clock: datetime | None, signals: "ChildSignals") -> None:
    """One scheduler process of `run_scheduler`: reports ready, waits for `start`, puts
    (customers evaluated, CPU seconds) on `results` and keeps its connections until `stop`."""

    async def scheduler() -> None:
        tune_garbage_collector()  # as the service's lifespan does
        engine = make_engine(DATABASE_URL, 5)
        try:
            processor = bench_processor(engine, run, clock)
            async with engine.connect():  # the pool's first connection, before the clock starts
                pass
            signals.ready.put(os.getpid())
            await asyncio.to_thread(signals.start.wait)
            signals.results.put(await scheduler_workers(processor))
            await asyncio.to_thread(signals.stop.wait)
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
