"""Scale-out: two instances of each consumer service in the same groups, one of each SIGKILLed
midway through 200,000 events, and the end state equals a single pass over the same events.

The services run against a system of their own (a disposable broker and a fresh database on
the test PostgreSQL server), with their production configuration: default groups, topics,
dedup owners and the wall clock. The session's other services therefore neither consume these
events nor relay these outboxes, and nothing else lands in the tables compared.

Workload: 200,000 distinct demo events (purchases, contacts, complaints, profiles of about
26,000 customers over two years up to now), published straight to `clm.customer-events.v1`
mostly in event-time order, up to 20,000 places late, plus 2,000 of them a second time. A spawned
worker generates and publishes them while the broker and services start, and later replays them.
Lifecycle and scoring read all of them. Notify reads every lifecycle change and score update
they produce, but the events of only one customer in ten (about 20,000, from a topic of its
own): its event intake takes one database round trip per cancelling event (purchases,
contacts, complaints) and measured about 400 events/s with two instances on this 2-core machine,
so all 200,000 would add some eight minutes.

Each service's instance A is SIGKILLed once its service has processed half of the events (no
clean shutdown: its batch in flight is lost, its partitions move after the session timeout and
are re-read from the last commit). Then, once everything is consumed, the state must equal:
- lifecycle: for every customer, stage, stage_since, flags, tier, pattern, reactivations,
  first seen / first and last purchase, occasions and total spend as the pure domain derives
  them from all of the customer's events at the clock the row was derived at, and no row
  overdue for a time-driven re-evaluation;
- scoring: every purchase once, every (customer, UTC day) occasion with its order count and
  amount, and every customer's occasions, first and last purchase day and total spend;
- notify: exactly the messages one instance decides from the same changes and events (ids are
  per playbook, customer, trigger occurrence and step), none decided twice, and no email
  delivered twice to the SMTP server.
"""

import asyncio
import concurrent.futures
import multiprocessing
import os
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiosmtpd.controller import Controller

from deploy.local.stack import KafkaNode
from services.notify.domain import load_playbooks
from services.notify.settings import DEFAULT_PLAYBOOKS
from shared.kafka_admin import ensure_topics, wait_for_broker
from shared.topics import CUSTOMER_EVENTS, CUSTOMER_SCORES, LIFECYCLE_CHANGES, dlq_of
from tests.support import scale_out
from tests.support.databases import create_database, drop_database
from tests.support.infra import Infrastructure
from tests.support.polling import eventually
from tests.support.services import ServiceProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
EVENTS = int(os.environ.get("CLM_SCALE_OUT_EVENTS", "200000"))
REPEATS = EVENTS // 100
SEED = 20260601
# Dedup owners (processed_events.consumer) whose counts say how far each service got.
LIFECYCLE, SCORING, NOTIFY_EVENTS = "lifecycle", "scoring", "notify:events"


class Mailbox:
    """An aiosmtpd handler that keeps the X-CLM-Message-Id of every email it accepts."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.ids.append(str(message_from_bytes(envelope.content)["X-CLM-Message-Id"]))
        return "250 Message accepted"


@dataclass
class IsolatedSystem:
    bootstrap: str
    database_url: str
    workload: Future[scale_out.Published]
    pool: ProcessPoolExecutor
    mailbox: Mailbox
    smtp_port: int
    services: list[ServiceProcess] = field(default_factory=list)

    @property
    def dsn(self) -> str:
        return self.database_url.replace("+asyncpg", "")


@pytest.fixture(scope="module")
def isolated(infra: Infrastructure) -> Iterator[IsolatedSystem]:
    """Broker, database and workload prepared side by side: the worker generates the events
    while the broker starts, and publishes them as soon as it answers."""
    database = f"clm_scale_out_{uuid.uuid4().hex[:8]}"
    handler = Mailbox()
    smtp = Controller(handler, hostname="127.0.0.1", port=free_port())
    smtp.start()
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    with tempfile.TemporaryDirectory(prefix="clm-scale-out-broker-") as home:
        node = KafkaNode("kafka-scale-out-test", Path(home), free_port(), free_port(), heap="1g")
        workload = pool.submit(
            scale_out.publish_workload,
            node.bootstrap, CUSTOMER_EVENTS, EVENTS, SEED, datetime.now(UTC), REPEATS,
        )  # fmt: skip
        system: IsolatedSystem | None = None
        with concurrent.futures.ThreadPoolExecutor(2) as threads:
            started = threads.submit(node.start)
            url = threads.submit(create_database, infra, database)
            try:
                started.result()
                asyncio.run(wait_for_broker(node.bootstrap, 90))
                asyncio.run(
                    ensure_topics(
                        node.bootstrap, scale_out.PARTITIONS, scale_out.scale_out_topics()
                    )
                )
                system = IsolatedSystem(
                    node.bootstrap, url.result(), workload, pool, handler, smtp.port
                )
                yield system
            finally:
                for service in system.services if system else ():
                    service.stop()  # before their broker and database go away
                for worker in list(pool._processes.values()):  # a publish cut short by a failure
                    worker.terminate()
                pool.shutdown(cancel_futures=True)
                smtp.stop()
                node.stop(crash=True)  # disposable: no need for a clean shutdown
                if url.done() and url.exception() is None:
                    drop_database(infra, database)


def _start_all(
    start_service: Callable[..., ServiceProcess], system: IsolatedSystem
) -> dict[str, list[ServiceProcess]]:
    env = {"KAFKA_BOOTSTRAP_SERVERS": system.bootstrap, "DATABASE_URL": system.database_url}
    notify = {
        "CLM_NOTIFY_SMTP_PORT": str(system.smtp_port),
        "CLM_NOTIFY_SENDER_INTERVAL_SECONDS": "0.2",
        # Birthdays and holidays come from the calendar, not from the events compared here.
        "CLM_NOTIFY_RUN_CALENDAR": "false",
        "CLM_NOTIFY_EVENTS_TOPIC": scale_out.NOTIFY_EVENTS_TOPIC,
        # Nothing listens there: staff tasks and SMS keep retrying, which is not under test.
        "CLM_NOTIFY_WEBHOOK_URL": f"http://127.0.0.1:{free_port()}/tasks",
        "CLM_NOTIFY_SMS_BASE_URL": f"http://127.0.0.1:{free_port()}",
    }
    extra = {
        "lifecycle": {},
        "scoring": {"CLM_SCORING_REFIT_INTERVAL_HOURS": "0"},
        "notify": notify,
    }
    started: list[ServiceProcess] = []
    # Instance A of each, then instance B joining their groups (a rebalance, as in a scale-out).
    with concurrent.futures.ThreadPoolExecutor(len(extra)) as threads:
        for _ in range(2):
            wave = [
                threads.submit(start_service, name, ready_within=120, **env, **extra[name])
                for name in extra
            ]  # fmt: skip
            started += [f.result() for f in wave]
    system.services += started
    return {name: [s for s in started if s.name == name] for name in extra}


async def _processed(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT consumer, count(*) AS n FROM processed_events "
        "WHERE consumer = ANY($1::text[]) GROUP BY consumer",
        [LIFECYCLE, SCORING, NOTIFY_EVENTS],
    )
    return {r["consumer"]: r["n"] for r in rows}


async def _lag(bootstrap: str, groups: dict[str, str]) -> int:
    """Records not yet committed by the groups ({group: topic}), summed."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        total = 0
        for group, topic in groups.items():
            tps = [TopicPartition(topic, p) for p in range(scale_out.PARTITIONS)]
            ends = await consumer.end_offsets(tps)
            committed = await admin.list_consumer_group_offsets(group, partitions=tps)
            total += sum(
                end - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0)
                for tp, end in ends.items()
            )
        return total
    finally:
        await consumer.stop()
        await admin.close()


async def _read_all(bootstrap: str, topic: str) -> list[Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(scale_out.PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[Any] = []
        behind = {tp for tp, end in ends.items() if end > 0}
        while behind:
            for batch in (await consumer.getmany(timeout_ms=500, max_records=20_000)).values():
                records += batch
            behind = {tp for tp in behind if await consumer.position(tp) < ends[tp]}
        return sorted(records, key=lambda r: (r.partition, r.offset))  # per customer in order
    finally:
        await consumer.stop()


@pytest.mark.timeout(1500)
async def test_two_instances_each_one_killed_midway_end_in_the_single_pass_state(
    isolated: IsolatedSystem, start_service: Callable[..., ServiceProcess]
) -> None:
    began = time.monotonic()
    services = await asyncio.to_thread(_start_all, start_service, isolated)
    conn = await asyncpg.connect(isolated.dsn)
    try:
        # Kill instance A of each service once that service has done half of the events.
        halfway = {
            LIFECYCLE: ("lifecycle", EVENTS // 2),
            SCORING: ("scoring", EVENTS // 2),
            NOTIFY_EVENTS: ("notify", EVENTS // scale_out.NOTIFY_SAMPLE // 2),
        }
        killed_at: dict[str, int] = {}

        async def kill_at_halfway() -> bool:
            counts = await _processed(conn)
            for owner, (name, half) in halfway.items():
                if owner not in killed_at and counts.get(owner, 0) >= half:
                    services[name][0].kill()
                    killed_at[owner] = counts[owner]
            return len(killed_at) == len(halfway)

        await eventually(kill_at_halfway, timeout=600, interval=0.1, what="halfway in each")
        published = await asyncio.wrap_future(isolated.workload)
        assert (published.distinct, published.records) == (EVENTS, EVENTS + REPEATS)
        totals = {LIFECYCLE: EVENTS, SCORING: EVENTS, NOTIFY_EVENTS: published.notify_distinct}
        assert all(killed_at[k] < totals[k] for k in totals), f"killed too late: {killed_at}"
        halfway_in = time.monotonic() - began

        waiting_for = ""

        async def all_consumed() -> dict[str, int] | None:
            # Upstream first: once lifecycle and scoring are done and their outboxes empty,
            # nothing new reaches notify's topics.
            nonlocal waiting_for
            counts = await _processed(conn)
            waiting_for = f"events processed: {counts}"
            if any(counts.get(owner, 0) < EVENTS for owner in (LIFECYCLE, SCORING)):
                return None
            waiting_for = "lifecycle customers overdue for re-evaluation"
            if await conn.fetchval(
                "SELECT count(*) FROM lifecycle_customers WHERE next_due_at <= now()"
            ):
                return None
            waiting_for = "lifecycle and scoring outboxes"
            if await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE service IN ('lifecycle', 'scoring')"
            ):
                return None
            waiting_for = f"notify's event consumer: {counts}"
            if counts.get(NOTIFY_EVENTS, 0) < published.notify_distinct:
                return None
            lag = await _lag(
                isolated.bootstrap,
                {"clm-notify-lifecycle": LIFECYCLE_CHANGES, "clm-notify-scores": CUSTOMER_SCORES},
            )
            waiting_for = f"notify's change and score consumers: lag {lag}"
            return counts if lag == 0 else None

        try:
            counts = await eventually(all_consumed, timeout=600, interval=0.5)
        except AssertionError as exc:
            raise AssertionError(f"still waiting for {waiting_for}") from exc
        assert counts == totals
        processed_in = time.monotonic() - began
        for name, (_, survivor) in services.items():
            assert survivor.process is not None and survivor.process.poll() is None, name

        lifecycle_rows = await conn.fetch(
            f"SELECT customer_id, as_of, next_due_at, {', '.join(scale_out.LIFECYCLE_COLUMNS)} "
            "FROM lifecycle_customers"
        )
        expected = await asyncio.wrap_future(
            isolated.pool.submit(
                scale_out.expected_state, {r["customer_id"]: r["as_of"] for r in lifecycle_rows}
            )
        )

        # Lifecycle: every customer, in the state one pass over its events gives.
        actual = {
            r["customer_id"]: tuple(
                sorted(r[c]) if c == "flags" else r[c] for c in scale_out.LIFECYCLE_COLUMNS
            )
            for r in lifecycle_rows
        }
        assert set(actual) == expected.customers
        wrong = {c: (actual[c], expected.lifecycle[c]) for c in actual}
        wrong = {c: pair for c, pair in wrong.items() if pair[0] != pair[1]}
        assert not wrong, f"{len(wrong)} customers differ, e.g. {next(iter(wrong.items()))}"

        # Scoring: each purchase once, the same occasions, the same per-customer aggregates.
        assert await conn.fetchval("SELECT count(*) FROM scoring_purchases") == expected.purchases
        occasions = {
            (r["customer_id"], r["day"]): (r["orders"], r["amount"])
            for r in await conn.fetch(
                "SELECT customer_id, day, orders, amount FROM scoring_occasions"
            )
        }
        assert occasions.keys() == expected.occasions.keys()
        assert all(
            occasions[k][0] == n and occasions[k][1] == pytest.approx(amount, rel=1e-9)
            for k, (n, amount) in expected.occasions.items()
        )
        per_customer: dict[str, tuple[int, Any, Any, float]] = {}
        for (customer, day), (_, amount) in sorted(expected.occasions.items()):
            n, first, _, spend = per_customer.get(customer, (0, day, day, 0.0))
            per_customer[customer] = (n + 1, first, day, spend + amount)
        scoring_rows = await conn.fetch(
            "SELECT customer_id, occasions, first_purchase_day, last_purchase_day, total_spend "
            "FROM scoring_customers"
        )
        assert {r["customer_id"] for r in scoring_rows} == expected.customers
        for r in scoring_rows:
            n, first, last, spend = per_customer.get(r["customer_id"], (0, None, None, 0.0))
            assert (r["occasions"], r["first_purchase_day"], r["last_purchase_day"]) == (
                n, first, last,
            ), r["customer_id"]  # fmt: skip
            assert r["total_spend"] == pytest.approx(spend, rel=1e-9), r["customer_id"]

        # Notify: exactly the messages one instance decides, none twice, no email twice.
        changes = await _read_all(isolated.bootstrap, LIFECYCLE_CHANGES)
        book = load_playbooks(DEFAULT_PLAYBOOKS)
        wanted = scale_out.change_message_ids(changes, book) | expected.event_messages
        decided = [r["id"] for r in await conn.fetch("SELECT id FROM notify_messages")]
        assert len(decided) == len(set(decided))
        assert set(decided) == wanted, (
            f"missing {len(wanted - set(decided))}, unexpected {len(set(decided) - wanted)}"
        )
        emailed = Counter(isolated.mailbox.ids)
        assert not [m for m, n in emailed.items() if n > 1], "an email went out twice"
        sent = {
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM notify_messages WHERE channel = 'email' AND status = 'sent'"
            )
        }
        assert sent <= set(emailed)

        # Nothing was parked as poison on the way.
        for topic in (CUSTOMER_EVENTS, LIFECYCLE_CHANGES, CUSTOMER_SCORES):
            assert not await _read_all(isolated.bootstrap, dlq_of(topic)), topic
        print(
            f"\nscale-out: {EVENTS} events (+{REPEATS} repeats), {len(actual)} customers, "
            f"{len(changes)} lifecycle changes, {len(decided)} messages, {len(sent)} emails; "
            f"notify read {published.notify_distinct} events; killed at {killed_at} after "
            f"{halfway_in:.0f}s; consumed in {processed_in:.0f}s, "
            f"verified in {time.monotonic() - began:.0f}s"
        )
    finally:
        await conn.close()
