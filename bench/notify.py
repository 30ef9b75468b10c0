"""Notify benchmark: decisions with durable writes, and sending to a local SMTP server.

Run: make infra && .venv/bin/python -m bench.notify [--triggers 40000 --emails 5000]
(a) decisions: stage-entered triggers through the real Intake (dedup rows, customer state,
    message rows with the unique occurrence key, outbox rows; one transaction per batch);
    each trigger decides the four steps of the new-customer playbook.
(b) sending: due welcome emails through the real Sender (claim with FOR UPDATE SKIP LOCKED,
    decide, render, SMTP over pooled connections with bounded concurrency, record outcome) to
    a local aiosmtpd; and the SMTP adapter alone, for comparison.
Uses its own customers and outbox name; removes its rows afterwards.
"""

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import secrets
import socket
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import structlog
from aiosmtpd.controller import Controller

from services.notify.adapters.channels import Outgoing
from services.notify.adapters.smtp import SmtpEmail
from services.notify.adapters.tables import notify_customers, notify_messages
from services.notify.bootstrap import Configuration, load_configuration
from services.notify.domain import Channel, Trigger, TriggerKind
from services.notify.domain.playbooks import QuietHours
from services.notify.service_layer.intake import Intake
from services.notify.service_layer.observations import Observation
from services.notify.service_layer.sender import Sender, SenderConfig
from services.notify.settings import NotifySettings
from shared.db import make_engine
from shared.dedup import processed_events
from shared.gc_tuning import tune_garbage_collector
from shared.logging import configure_logging
from shared.outbox import outbox
from tests.support.services import LOG_DIR

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql+asyncpg://clm:clm@127.0.0.1:55432/clm")
OUTBOX = "bench-notify"


class CountingHandler:
    def __init__(self, counter: Any) -> None:
        self._counter = counter

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        with self._counter.get_lock():
            self._counter.value += 1
        return "250 OK"


def _serve_smtp(port: int, counter: Any, stop: Any) -> None:
    controller = Controller(CountingHandler(counter), hostname="127.0.0.1", port=port)
    controller.start()
    stop.wait()
    controller.stop()


class SmtpServer:
    """aiosmtpd in its own process, so the server does not share the sender's CPU and GIL."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._counter = multiprocessing.Value("q", 0)
        self._stop = multiprocessing.Event()
        self._process = multiprocessing.Process(
            target=_serve_smtp, args=(self.port, self._counter, self._stop), daemon=True
        )

    @property
    def received(self) -> int:
        return int(self._counter.value)

    def start(self) -> None:
        self._process.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.5),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("the benchmark SMTP server did not start")

    def stop(self) -> None:
        self._stop.set()
        self._process.join(5)


def _observations(run: str, start: int, n: int, now: datetime) -> list[Observation]:
    out = []
    for i in range(start, start + n):
        customer = f"bench-{run}-{i}"
        trigger = Trigger(
            TriggerKind.STAGE_ENTERED, customer, f"{run}-t{i}", now, stage="development"
        )
        out.append(Observation(f"{run}-e{i}", customer, now, trigger=trigger, stage="development"))
    return out


def _profiles(run: str, start: int, n: int, now: datetime) -> list[Observation]:
    return [
        Observation(
            f"{run}-p{i}",
            f"bench-{run}-{i}",
            now,
            profile={"name": f"N{i}", "email": f"c{i}@bench.example", "locale": "en"},
        )
        for i in range(start, start + n)
    ]


async def bench_decisions(intake: Intake, run: str, total: int, batch: int) -> tuple[float, int]:
    now = datetime.now(UTC)
    for start in range(0, total, batch):  # contact details first, as profile events would
        await intake.observe(_profiles(run, start, min(batch, total - start), now), "bench-p")
    began = time.perf_counter()
    decided = 0
    for start in range(0, total, batch):
        decided += await intake.observe(
            _observations(run, start, min(batch, total - start), now), "bench-t"
        )
    return time.perf_counter() - began, decided


class CpuClock:
    """CPU seconds this process used: on a shared machine, wall-clock rates hide contention."""

    def __enter__(self) -> "CpuClock":
        self._start = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.process_time() - self._start


async def bench_sender(sender: Sender, handler: SmtpServer, expected: int) -> float:
    began = time.perf_counter()
    while handler.received < expected:
        if await sender.run_once() == 0 and handler.received < expected:
            await asyncio.sleep(0.01)
    return time.perf_counter() - began


async def bench_adapter(port: int, handler: SmtpServer, n: int, concurrency: int) -> float:
    smtp = SmtpEmail(host="127.0.0.1", port=port, sender="b@bench.example", pool_size=concurrency)
    before = handler.received
    began = time.perf_counter()
    await asyncio.gather(
        *(
            smtp.send(
                Outgoing(f"m{i}", "c", "email", f"c{i}@bench.example", "s", "b", "en", "p", "s")
            )
            for i in range(n)
        )
    )
    elapsed = time.perf_counter() - began
    await smtp.close()
    assert handler.received - before == n
    return elapsed


async def cleanup(engine: object, run: str) -> None:
    like = f"bench-{run}-%"
    async with engine.begin() as conn:  # type: ignore[attr-defined]
        await conn.execute(notify_messages.delete().where(notify_messages.c.customer_id.like(like)))
        await conn.execute(
            notify_customers.delete().where(notify_customers.c.customer_id.like(like))
        )
        await conn.execute(outbox.delete().where(outbox.c.service == OUTBOX))
        await conn.execute(
            processed_events.delete().where(processed_events.c.event_id.like(f"{run}-%"))
        )


def service_like_setup(settings: NotifySettings) -> Configuration:
    """Logging, playbooks and collector as the service has them, minus quiet hours: benchmark
    customers have no time zone, and quiet hours would defer sends out of a throughput figure."""
    _log_like_the_service(settings.log_level)
    config = load_configuration(settings)
    policy = config.book.policy.model_copy(update={"quiet_hours": QuietHours(enabled=False)})
    tune_garbage_collector()  # as the service's lifespan does
    return replace(config, book=config.book.model_copy(update={"policy": policy}))


def _log_like_the_service(level: str) -> None:
    """JSON at the service's level, as in production, but into a file, not over the figures."""
    configure_logging("notify", level)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(open(LOG_DIR / "bench-notify.log", "a"))
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--triggers", type=int, default=40_000)
    parser.add_argument("--batch", type=int, default=2_000)
    parser.add_argument("--emails", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    settings = NotifySettings(database_url=DATABASE_URL)
    config = service_like_setup(settings)
    book = config.book
    engine = make_engine(DATABASE_URL, 20)
    run = secrets.token_hex(4)
    clock = lambda: datetime.now(UTC)  # noqa: E731
    intake = Intake(engine, book, clock, "bench-secret", dedup_owner="bench", outbox_service=OUTBOX)

    handler = SmtpServer()
    handler.start()
    port = handler.port
    smtp = SmtpEmail(
        host="127.0.0.1", port=port, sender="b@bench.example", pool_size=args.concurrency
    )
    sender = Sender(
        engine, book, config.templates, {Channel.EMAIL: smtp}, clock,
        SenderConfig(batch_size=500, concurrency=args.concurrency), outbox_service=OUTBOX,
    )  # fmt: skip
    try:
        with CpuClock() as decide_cpu:
            elapsed, decided = await bench_decisions(intake, run, args.triggers, args.batch)
        # Only the first `emails` welcome messages stay due; the rest are parked for later.
        async with engine.begin() as conn:
            await conn.execute(
                notify_messages.update()
                .where(
                    notify_messages.c.customer_id.like(f"bench-{run}-%"),
                    notify_messages.c.step == "welcome",
                    sa.cast(sa.func.split_part(notify_messages.c.customer_id, "-", 3), sa.Integer)
                    >= args.emails,
                )
                .values(due_at=datetime(2999, 1, 1, tzinfo=UTC))
            )
        with CpuClock() as send_cpu:
            send_elapsed = await bench_sender(sender, handler, args.emails)
        adapter_elapsed = await bench_adapter(port, handler, args.emails, args.concurrency)
        async with engine.connect() as conn:
            duplicates = await conn.scalar(
                sa.select(sa.func.count())
                .select_from(notify_messages)
                .where(
                    notify_messages.c.customer_id.like(f"bench-{run}-%"),
                    notify_messages.c.status == "sent",
                )
            )
    finally:
        await smtp.close()
        handler.stop()
        await cleanup(engine, run)
        await engine.dispose()

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nnotify benchmark: {args.triggers:,} triggers, {args.emails:,} emails")
    print(f"  machine: {os.cpu_count()} CPUs, load average {load}")
    print(
        f"  (a) decisions, durable (Intake)   : {args.triggers / elapsed:10,.0f} triggers/s = "
        f"{decided / elapsed:10,.0f} message decisions/s   [required >= 2,000/s]"
    )
    print(
        f"  (b) sending via Sender to aiosmtpd: {args.emails / send_elapsed:10,.0f} emails/s "
        f"(concurrency {args.concurrency}; {duplicates:,} sent rows)   [required >= 200/s]"
    )
    print(f"      SMTP adapter alone            : {args.emails / adapter_elapsed:10,.0f} emails/s")
    print(
        f"  per CPU-second of this process    : {args.triggers / decide_cpu.seconds:10,.0f} "
        f"triggers, {args.emails / send_cpu.seconds:,.0f} emails (the bound without contention)"
    )


if __name__ == "__main__":
    asyncio.run(main())
