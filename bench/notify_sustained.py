"""Notify's event intake under a steady offered load: does the group's lag stay bounded?

Run: make infra && .venv/bin/python -m bench.notify_sustained [--rate 2000 --seconds 60]
     [--customers 20000]

`bench.notify_intake` times the intake on batches already in memory; this runs it as the
service does, from Kafka. A child process produces the stream of `bench.notify_intake` (its
customers seeded first, a quarter with a pending win-back) to a topic of this run's own
(12 partitions) at `--rate` events/s on a fixed schedule (every 50 ms the records due by
then, whatever happened before), while this process runs notify's events consumer on it:
`BatchConsumer` with notify's decoder and `Intake.handle_events`, batches of
`CLM_NOTIFY_CONSUMER_MAX_RECORDS`, `CLM_NOTIFY_TRANSACTIONS_PER_BATCH` transactions each.

Printed: the rate the producer kept up; the lag (records produced and not yet handled and
committed) sampled every second, its maximum in each tenth of the load, at the load's end,
and the seconds from the load's end until it is 0; the events/s handled while the load ran;
CPU per event of this process and of PostgreSQL. The lag "stays bounded" when it does not
grow from one tenth of the load to the next beyond a batch or two in flight.
Uses its own topic, group, customers and outbox name; removes its rows and topic afterwards.
"""

import argparse
import asyncio
import multiprocessing
import os
import secrets
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.sharedctypes import Synchronized

from aiokafka import AIOKafkaProducer
from sqlalchemy.engine import make_url

from bench.notify import CpuClock, service_like_setup
from bench.notify_intake import DATABASE_URL, OUTBOX, cleanup, make_records, seed
from bench.server_cpu import postgres_cpu_seconds
from services.notify.service_layer.intake import Intake
from services.notify.service_layer.observations import decode_customer_event
from services.notify.settings import NotifySettings
from shared.customer_event_codec import ConsumedRecord
from shared.db import make_engine
from shared.events import CustomerEvent
from shared.kafka_admin import delete_topics, ensure_topics
from shared.kafka_consumer import BatchConsumer, Decoded, Poison
from shared.kafka_producer import KafkaPublisher
from shared.topics import TopicSpec, dlq_of

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
TICK = 0.05  # the producer's schedule: every 50 ms, the records due by then


Shared = Synchronized  # type: ignore[type-arg]


def produce_in_child(
    topic: str, run: str, rate: float, seconds: float, customers: int, progress: tuple[Shared, ...]
) -> None:
    """The offered load, from a process of its own (its CPU is not the intake's).
    `progress`: records sent so far, and the wall-clock times the sending began and ended."""
    asyncio.run(_produce(topic, run, rate, seconds, customers, *progress))


async def _produce(
    topic: str,
    run: str,
    rate: float,
    seconds: float,
    customers: int,
    sent: Shared,
    started_at: Shared,
    ended_at: Shared,
) -> None:
    total = int(rate * seconds)
    records = make_records(run, total, customers, datetime.now(UTC) - timedelta(hours=1))
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", linger_ms=5)
    await producer.start()
    try:
        began, done = time.perf_counter(), 0
        started_at.value = time.time()
        while done < len(records):
            due = min(len(records), int((time.perf_counter() - began) * rate))
            batch = [
                await producer.send(topic, r.value, key=r.key, headers=r.headers)
                for r in records[done:due]
            ]
            await asyncio.gather(*batch)
            done = due
            with sent.get_lock():
                sent.value = done
            await asyncio.sleep(TICK)
        ended_at.value = time.time()
    finally:
        await producer.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--drain-timeout", type=float, default=300)
    args = parser.parse_args()

    settings = NotifySettings(database_url=DATABASE_URL)
    book = service_like_setup(settings).book
    engine = make_engine(DATABASE_URL, 20)
    run = secrets.token_hex(4)
    topic = f"bench.notify.{run}"
    intake = Intake(
        engine, book, lambda: datetime.now(UTC), "bench-secret",
        dedup_owner=f"bench-{run}", outbox_service=OUTBOX,
        transactions_per_batch=settings.transactions_per_batch,
    )  # fmt: skip
    await ensure_topics(BOOTSTRAP, 12, [TopicSpec(topic, {}), TopicSpec(dlq_of(topic), {})])
    publisher = KafkaPublisher(BOOTSTRAP, "bench-notify-sustained")
    handled = 0

    async def handle(batch: list[Decoded[CustomerEvent]]) -> list[Poison]:
        nonlocal handled
        poison = await intake.handle_events(batch)
        handled += len(batch)  # committed: the handler returns after its transactions
        return poison

    def decode(record: ConsumedRecord) -> CustomerEvent:
        return decode_customer_event(record)

    consumer = BatchConsumer(
        bootstrap_servers=BOOTSTRAP, topic=topic, group_id=f"bench-notify-{run}", decode=decode,
        handle=handle, dlq=publisher, max_records=settings.consumer_max_records,
    )  # fmt: skip
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited loop
    sent, started_at, ended_at = spawn.Value("q", 0), spawn.Value("d", 0.0), spawn.Value("d", 0.0)
    child = spawn.Process(
        target=produce_in_child,
        args=(topic, run, args.rate, args.seconds, args.customers, (sent, started_at, ended_at)),
    )
    task = asyncio.create_task(consumer.run())
    samples: list[tuple[float, int]] = []  # (seconds into the load, lag)
    try:
        await seed(intake, run, args.customers, datetime.now(UTC) - timedelta(hours=2), 2000)
        await consumer.started.wait()
        pg_port = make_url(DATABASE_URL).port
        pg_before = postgres_cpu_seconds(pg_port)
        with CpuClock() as cpu:
            child.start()
            while child.is_alive() and not ended_at.value:
                if started_at.value:  # the child generates its records first
                    samples.append((time.time() - started_at.value, sent.value - handled))
                await asyncio.sleep(1.0)  # sampling a benchmark, not test synchronisation
            load_s = ended_at.value - started_at.value
            handled_in_load, produced = handled, sent.value
            end_lag = produced - handled
            deadline = time.perf_counter() + args.drain_timeout
            while handled < produced and time.perf_counter() < deadline:
                samples.append((time.time() - started_at.value, produced - handled))
                await asyncio.sleep(0.1)  # sampling a benchmark, not test synchronisation
            drained_s = time.time() - ended_at.value if end_lag else 0.0
        pg_cpu = postgres_cpu_seconds(pg_port) - pg_before
    finally:
        consumer.stop()
        await task
        await publisher.stop()
        if child.is_alive():
            child.terminate()
        await cleanup(engine, run)
        await engine.dispose()
        await delete_topics(BOOTSTRAP, [topic, dlq_of(topic)])

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nnotify sustained intake: {args.rate:,.0f} events/s offered for {args.seconds:.0f} s")
    print(
        f"  {args.customers:,} customers, batches of up to {settings.consumer_max_records:,} "
        f"records, {settings.transactions_per_batch} transactions each; machine: "
        f"{os.cpu_count()} CPUs, load average {load}"
    )
    print(f"  produced {produced:,} records in {load_s:.1f} s ({produced / load_s:,.0f}/s)")
    print(f"  handled during the load: {handled_in_load / load_s:,.0f} events/s")
    tenth = max(load_s / 10, 1.0)
    maxima = [
        max((lag for at, lag in samples if k * tenth <= at < (k + 1) * tenth), default=0)
        for k in range(10)
    ]
    print(f"  lag, maximum in each tenth of the load: {', '.join(f'{m:,}' for m in maxima)}")
    caught_up = "" if handled >= produced else f" (not 0 after {args.drain_timeout:.0f} s)"
    print(f"  lag at the load's end {end_lag:,} -> 0 after {drained_s:.1f} s{caught_up}")
    print(
        f"  CPU per event: {cpu.seconds / max(handled, 1) * 1e6:,.0f} us this process, "
        f"{pg_cpu / max(handled, 1) * 1e6:,.0f} us PostgreSQL (this server's processes only)"
    )


if __name__ == "__main__":
    asyncio.run(main())
