"""Notify's use cases on the real PostgreSQL: races between consumers, instances and senders."""

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from services.notify.adapters import store
from services.notify.adapters.smtp import SmtpEmail
from services.notify.adapters.tables import notify_customers, notify_messages
from services.notify.bootstrap import load_configuration
from services.notify.domain import Channel, Trigger, TriggerKind
from services.notify.domain.playbooks import QuietHours
from services.notify.domain.repeats import Entry
from services.notify.service_layer.intake import Intake
from services.notify.service_layer.observations import Observation
from services.notify.service_layer.sender import Sender, SenderConfig
from services.notify.settings import NotifySettings
from tests.support.infra import Infrastructure
from tests.support.notify_rows import notify_engine
from tests.support.services import free_port

OUTBOX = f"notify-test-{uuid.uuid4().hex[:6]}"
CONFIG = load_configuration(NotifySettings())
# Several triggers of one customer here stand for separate occurrences (races, caps): none
# is held back as a repeat of a once-per-customer welcome.
BOOK = CONFIG.book.model_copy(
    update={
        "policy": CONFIG.book.policy.model_copy(update={"quiet_hours": QuietHours(enabled=False)}),
        "playbooks": tuple(
            p.model_copy(update={"once_per_customer": False}) for p in CONFIG.book.playbooks
        ),
    }
)


def _clock() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
async def engine(infra: Infrastructure) -> AsyncIterator[Any]:
    async with notify_engine(
        infra.database_url, outbox_service=OUTBOX, customer_prefix="race-", pool_size=10
    ) as engine:
        yield engine


def _intake(engine: Any, consumer: str) -> Intake:
    return Intake(engine, BOOK, _clock, "s", dedup_owner=consumer, outbox_service=OUTBOX)


def _entered(customer: str, occurrence: str, stage: str = "development") -> Observation:
    now = _clock()
    trigger = Trigger(TriggerKind.STAGE_ENTERED, customer, occurrence, now, stage=stage)
    return Observation(uuid.uuid4().hex, customer, now, trigger=trigger, stage=stage)


async def _rows(engine: Any, customer_like: str) -> list[Any]:
    async with engine.connect() as conn:
        query = sa.select(notify_messages).where(notify_messages.c.customer_id.like(customer_like))
        return list((await conn.execute(query)).all())


async def test_a_profile_and_a_stage_change_for_a_new_customer_do_not_overwrite_each_other(
    engine: Any,
) -> None:
    run = uuid.uuid4().hex[:6]
    customers = [f"race-{run}-{i}" for i in range(30)]
    now = _clock()
    profiles = [
        Observation(uuid.uuid4().hex, c, now, profile={"email": f"{c}@x.io"}) for c in customers
    ]
    # maintenance_care's first step is two weeks away: nothing here becomes due to send
    changes = [_entered(c, f"tr-{c}", "maintenance") for c in customers]
    await asyncio.gather(
        _intake(engine, "race-a").observe(profiles, "race-events"),
        _intake(engine, "race-b").observe(changes, "race-lifecycle"),
    )
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(notify_customers).where(notify_customers.c.customer_id.in_(customers))
            )
        ).all()
    assert {(r.email, r.stage) for r in rows} == {(f"{c}@x.io", "maintenance") for c in customers}


async def test_two_instances_seeing_the_same_trigger_decide_it_once(engine: Any) -> None:
    customer = f"race-{uuid.uuid4().hex[:6]}"
    # Different consumer names: the dedup table cannot help, only the unique key can.
    results = await asyncio.gather(
        *(
            _intake(engine, f"race-{n}").observe([_entered(customer, "tr-1")], f"race-{n}")
            for n in range(4)
        )
    )
    assert sum(results) == 4  # the four steps of new_customer, decided by exactly one of them
    rows = await _rows(engine, customer)
    assert sorted(r.step for r in rows) == [
        "call_back",
        "usage_checklist",
        "value_report",
        "welcome",
    ]


class _Inbox:
    def __init__(self) -> None:
        self.ids: list[str] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for line in envelope.content.decode().splitlines():
            if line.startswith("X-CLM-Message-Id:"):
                with self._lock:
                    self.ids.append(line.split(":", 1)[1].strip())
        return "250 OK"


async def _drain_with_two_senders(engine: Any, config: SenderConfig) -> _Inbox:
    """Two senders side by side, each with its own SMTP pool, until nothing is due; the inbox."""
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    channels = [
        {
            Channel.EMAIL: SmtpEmail(
                host="127.0.0.1", port=controller.port, sender="t@x.io", pool_size=8
            )
        }
        for _ in range(2)
    ]
    senders = [
        Sender(engine, BOOK, CONFIG.templates, ch, _clock, config, OUTBOX) for ch in channels
    ]

    async def drain(sender: Sender) -> None:
        while await sender.run_once():
            pass

    try:
        await asyncio.gather(*(drain(s) for s in senders))
    finally:
        for ch in channels:
            await ch[Channel.EMAIL].close()
        controller.stop()
    return inbox


async def _customers_with_email(engine: Any, n: int, consumer: str) -> tuple[str, list[str]]:
    """A run id and n new customers whose email address notify already knows."""
    run = uuid.uuid4().hex[:6]
    customers = [f"race-{run}-{i}" for i in range(n)]
    now = _clock()
    await _intake(engine, consumer).observe(
        [Observation(uuid.uuid4().hex, c, now, profile={"email": f"{c}@x.io"}) for c in customers],
        consumer,
    )
    return run, customers


async def test_two_senders_deliver_each_due_message_exactly_once(engine: Any) -> None:
    run, customers = await _customers_with_email(engine, 120, "race-send")
    await _intake(engine, "race-send").observe(
        [_entered(c, f"tr-{c}") for c in customers], "race-send"
    )

    inbox = await _drain_with_two_senders(engine, SenderConfig(batch_size=25, concurrency=8))
    welcome = [r for r in await _rows(engine, f"race-{run}-%") if r.step == "welcome"]
    assert {r.status for r in welcome} == {"sent"}
    ours = [i for i in inbox.ids if i in {r.id for r in welcome}]
    assert sorted(ours) == sorted(r.id for r in welcome)
    assert len(ours) == len(set(ours)) == len(customers)


async def test_the_latest_entry_is_the_newest_occurrence_not_retracted(engine: Any) -> None:
    customer = f"race-{uuid.uuid4().hex[:6]}"
    first, again = (
        _entered(customer, "tr-first", "maintenance"),
        _entered(customer, "tr-again", "maintenance"),
    )
    assert first.trigger is not None and again.trigger is not None
    later = first.occurred_at + timedelta(days=40)  # left, then came back 40 days later
    again = replace(again, occurred_at=later, trigger=replace(again.trigger, occurred_at=later))
    intake = _intake(engine, "race-latest")
    await intake.observe([first, again], "race-latest")
    pair = (customer, "maintenance_care")

    async def latest() -> Entry | None:
        async with engine.connect() as conn:
            return (await store.latest_entries(conn, [pair, (customer, "churned")])).get(pair)

    assert await latest() == Entry(later, "tr-again")
    correction = Observation(uuid.uuid4().hex, customer, _clock(), retracts="tr-again")
    await intake.observe([correction], "race-latest")
    assert await latest() == Entry(first.occurred_at, "tr-first")


async def test_two_senders_together_keep_each_customers_frequency_cap(engine: Any) -> None:
    """Six welcome emails due at once per customer, two senders claiming three at a time side by
    side (so often each holds some of one customer's): the cap (3 emails a day) holds per
    customer, not per sender."""
    run, customers = await _customers_with_email(engine, 30, "race-cap")
    await _intake(engine, "race-cap").observe(
        [_entered(c, f"tr-{c}-{n}") for c in customers for n in range(6)], "race-cap"
    )
    [cap] = [c for c in BOOK.policy.caps if c.channel is Channel.EMAIL]
    assert cap.limit == 3

    await _drain_with_two_senders(engine, SenderConfig(batch_size=3))
    welcome = [r for r in await _rows(engine, f"race-{run}-%") if r.step == "welcome"]
    assert len(welcome) == 6 * len(customers)
    for customer in customers:
        statuses = sorted(r.status for r in welcome if r.customer_id == customer)
        assert statuses == ["sent"] * 3 + ["suppressed"] * 3, (customer, statuses)
