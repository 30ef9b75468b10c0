"""Notify's event intake: customer events through the real Intake, as its consumer gives them.

Run: make infra && .venv/bin/python -m bench.notify_intake [--events 40000 --customers 20000]
     [--profile FILE]  (cProfile of the intake, e.g. `python -m pstats FILE`)

Set-up (not timed): every customer gets a profile (an email address); a quarter of them
churned two hours ago (a pending win-back follow-up that a purchase cancels), a sixth were
flagged at risk (a care message a purchase cancels) and half entered development (steps no
event cancels). The stream: `--events` customer events for random customers, occurring after
the set-up: 55 % purchases, 25 % contacts, 15 % complaints (opened, later resolved), 5 %
profile updates; 1 % of the records delivered twice (a redelivery). They are encoded as
ingest publishes them (CloudEvents binary mode, with a traceparent) and cut into batches of
`CLM_NOTIFY_CONSUMER_MAX_RECORDS` (2,000), as notify's consumer polls them.

Printed, in events/s of the same run:
- decode: notify's decoder on every record (the consumer does it before the batch handler);
- intake: `Intake.handle_events` per batch (erasure filter, dedup rows, profiles, decisions,
  cancellations and outbox records; the batch's customers split into
  `CLM_NOTIFY_TRANSACTIONS_PER_BATCH` concurrent transactions, 2 by default);
- baseline: per batch, a transaction that only claims the batch's dedup rows (`claim_new`),
  what any durable intake has to do at least; the intake's rate as a fraction of it;
- CPU per event of this process and of PostgreSQL (this server's processes) during the
  intake, and the rates that CPU allows: events / (process + PostgreSQL CPU seconds) when the
  two take turns (one transaction), events / the larger of the two when concurrent
  transactions overlap them, each on a core of its own (the machine's other work takes its
  share of the wall-clock rate).
Uses its own customers, consumer names and outbox name; removes its rows afterwards.
"""

import argparse
import asyncio
import cProfile
import os
import random
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.notify import CpuClock, service_like_setup
from bench.server_cpu import postgres_cpu_seconds
from services.notify.adapters.tables import notify_customers, notify_messages
from services.notify.domain import Trigger, TriggerKind
from services.notify.service_layer.intake import Intake
from services.notify.service_layer.observations import Observation, decode_customer_event
from services.notify.settings import NotifySettings
from shared.customer_event_codec import to_kafka_record
from shared.db import make_engine
from shared.dedup import claim_new, processed_events
from shared.events import customer_event_adapter
from shared.kafka_consumer import Decoded
from shared.outbox import outbox

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql+asyncpg://clm:clm@127.0.0.1:55432/clm")
OUTBOX = "bench-notify-intake"
TOPIC = "clm.customer-events.v1"
TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@dataclass(frozen=True)
class Record:
    """What notify's decoder and intake read of an aiokafka ConsumerRecord."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def _event(run: str, i: int, customer: str, at: datetime, rng: random.Random) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.55:
        kind, data = "purchase", {"order_id": f"o{i}", "amount": "120.00", "currency": "CNY"}
    elif roll < 0.80:
        kind, data = "contact", {"channel": "phone", "direction": "inbound"}
    elif roll < 0.95:
        status = "opened" if rng.random() < 0.67 else "resolved"
        ticket = f"t{rng.randrange(5)}"  # a resolution closes a ticket opened before
        kind, data = "complaint", {"ticket_id": ticket, "severity": "low", "status": status}
    else:
        kind, data = "profile", {"name": f"N{i}", "locale": "en"}
    return {
        "event_id": f"{run}-e{i}",
        "type": kind,
        "customer_id": customer,
        "occurred_at": at.isoformat(),
        "data": data,
    }


def make_records(run: str, events: int, customers: int, start: datetime) -> list[Record]:
    rng = random.Random(19)
    records: list[Record] = []
    for i in range(events):
        customer = f"bench-{run}-{rng.randrange(customers)}"
        event = customer_event_adapter.validate_python(
            _event(run, i, customer, start + timedelta(milliseconds=i), rng)
        )
        r = to_kafka_record(TOPIC, event, TRACEPARENT)
        record = Record(r.topic, 0, len(records), r.key, r.value, list(r.headers))
        records.append(record)
        if rng.random() < 0.01:  # redelivered
            records.append(Record(r.topic, 0, len(records), r.key, r.value, list(r.headers)))
    return records


def _seed(run: str, customers: int, at: datetime) -> list[Observation]:
    """Profiles for everyone, then the stage changes and flags that leave messages pending."""
    out = [
        Observation(
            f"{run}-p{i}",
            f"bench-{run}-{i}",
            at,
            profile={"name": f"N{i}", "email": f"c{i}@bench.example", "locale": "en"},
        )
        for i in range(customers)
    ]
    for i in range(customers):
        customer = f"bench-{run}-{i}"
        if i % 4 == 0:
            stage = "churn"
            trigger = Trigger(TriggerKind.STAGE_ENTERED, customer, f"{run}-c{i}", at, stage=stage)
        elif i % 2 == 1:
            stage = "development"
            trigger = Trigger(TriggerKind.STAGE_ENTERED, customer, f"{run}-d{i}", at, stage=stage)
        else:
            continue
        out.append(Observation(f"{run}-s{i}", customer, at, trigger=trigger, stage=stage))
        if i % 6 == 1:
            flag = Trigger(TriggerKind.FLAG_SET, customer, f"{run}-f{i}", at, flag="at_risk")
            out.append(Observation(f"{run}-f{i}", customer, at, trigger=flag))
    return out


async def seed(intake: Intake, run: str, customers: int, at: datetime, batch: int) -> None:
    observations = _seed(run, customers, at)
    for start in range(0, len(observations), batch):
        await intake.observe(observations[start : start + batch], "bench-seed")


async def baseline(engine: AsyncEngine, batches: list[list[Record]]) -> float:
    """Seconds to claim every batch's dedup rows, one transaction per batch."""
    began = time.perf_counter()
    for records in batches:
        async with engine.begin() as conn:
            ids = [dict(r.headers)["ce_id"].decode() for r in records]
            await claim_new(conn, "bench-baseline:events", ids)
    return time.perf_counter() - began


async def cleanup(engine: AsyncEngine, run: str) -> None:
    like = f"bench-{run}-%"
    async with engine.begin() as conn:
        await conn.execute(notify_messages.delete().where(notify_messages.c.customer_id.like(like)))
        await conn.execute(
            notify_customers.delete().where(notify_customers.c.customer_id.like(like))
        )
        await conn.execute(outbox.delete().where(outbox.c.service == OUTBOX))
        await conn.execute(
            processed_events.delete().where(processed_events.c.event_id.like(f"{run}-%"))
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument(
        "--profile", metavar="FILE", default=None,
        help="cProfile the intake (Intake.handle_events over every batch) into FILE",
    )  # fmt: skip
    args = parser.parse_args()

    settings = NotifySettings(database_url=DATABASE_URL)
    book = service_like_setup(settings).book
    engine = make_engine(DATABASE_URL, 20)
    run = secrets.token_hex(4)
    batch = settings.consumer_max_records
    now = datetime.now(UTC)
    intake = Intake(
        engine, book, lambda: datetime.now(UTC), "bench-secret",
        dedup_owner=f"bench-{run}", outbox_service=OUTBOX,
        transactions_per_batch=settings.transactions_per_batch,
    )  # fmt: skip
    records = make_records(run, args.events, args.customers, now - timedelta(hours=1))
    batches = [records[i : i + batch] for i in range(0, len(records), batch)]
    try:
        await seed(intake, run, args.customers, now - timedelta(hours=2), batch)
        async with engine.connect() as conn:
            pending_before = await _pending(conn, run)
        began = time.perf_counter()
        decoded = [[Decoded(r, decode_customer_event(r)) for r in b] for b in batches]
        decode_elapsed = time.perf_counter() - began

        pg_port = make_url(DATABASE_URL).port
        pg_before = postgres_cpu_seconds(pg_port)
        profiler = cProfile.Profile() if args.profile else None
        with CpuClock() as cpu:
            began = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            for items in decoded:
                await intake.handle_events(items)
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
            elapsed = time.perf_counter() - began
        pg_cpu = postgres_cpu_seconds(pg_port) - pg_before
        async with engine.connect() as conn:
            pending_after = await _pending(conn, run)
            cancelled = await conn.scalar(
                sa.select(sa.func.count())
                .select_from(notify_messages)
                .where(
                    notify_messages.c.customer_id.like(f"bench-{run}-%"),
                    notify_messages.c.status == "cancelled",
                )
            )
        base_elapsed = await baseline(engine, batches)
    finally:
        await cleanup(engine, run)
        await engine.dispose()

    n = len(records)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nnotify event intake: {n:,} records ({args.events:,} events, 1 % redelivered), ")
    print(
        f"  {args.customers:,} customers, batches of {batch:,} records, "
        f"{settings.transactions_per_batch} transactions each"
    )
    print(f"  machine: {os.cpu_count()} CPUs, load average {load}")
    print(f"  pending messages before {pending_before:,}, after {pending_after:,}; ", end="")
    print(f"{cancelled:,} cancelled")
    print(f"  decode (notify's decoder)     : {n / decode_elapsed:10,.0f} events/s")
    print(
        f"  intake (Intake.handle_events) : {n / elapsed:10,.0f} events/s   [required >= 5,000/s]"
    )
    print(
        f"  baseline (claim_new per batch): {n / base_elapsed:10,.0f} events/s   "
        f"intake = {base_elapsed / elapsed:.2f}x baseline"
    )
    print(f"  decode + intake               : {n / (decode_elapsed + elapsed):10,.0f} events/s")
    print(
        f"  CPU per event during intake   : {cpu.seconds / n * 1e6:6.0f} us this process, "
        f"{pg_cpu / n * 1e6:6.0f} us PostgreSQL (this server's processes only)"
    )
    # In one transaction the process and PostgreSQL take turns, so their CPU adds up; with
    # concurrent ones they overlap, and the busier of the two bounds the rate (a core each).
    print(
        f"  intake, bound by its CPU      : {n / (cpu.seconds + pg_cpu):10,.0f} events/s "
        f"= events / (process + PostgreSQL CPU seconds), taking turns on one core; "
        f"{n / max(cpu.seconds, pg_cpu):,.0f} = events / the larger of the two, a core each"
    )


async def _pending(conn: Any, run: str) -> int:
    return int(
        await conn.scalar(
            sa.select(sa.func.count())
            .select_from(notify_messages)
            .where(
                notify_messages.c.customer_id.like(f"bench-{run}-%"),
                notify_messages.c.status == "scheduled",
            )
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
