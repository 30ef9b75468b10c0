"""Notify's intake decides a batch of customer events with a few statements, and as before.

A batch's cancellations (purchases, contacts, complaints, lifecycle corrections) are decided
for the whole batch at once: the same messages cancelled with the same reasons and outbox
records as one event at a time, and a redelivered batch changes nothing. Split by customer
into concurrent transactions, a batch decides the same, each customer's records in the same
order, and one customer's locked row does not hold up the others.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from services.notify.adapters.tables import notify_messages
from services.notify.bootstrap import load_configuration
from services.notify.domain import Trigger, TriggerKind
from services.notify.domain.playbooks import QuietHours
from services.notify.service_layer.intake import Intake
from services.notify.service_layer.observations import Observation
from services.notify.settings import NotifySettings
from shared.outbox import outbox
from tests.support.infra import Infrastructure
from tests.support.notify_rows import notify_engine
from tests.support.polling import eventually

OUTBOX = f"notify-batch-{uuid.uuid4().hex[:6]}"
CONFIG = load_configuration(NotifySettings())
BOOK = CONFIG.book.model_copy(
    update={
        "policy": CONFIG.book.policy.model_copy(update={"quiet_hours": QuietHours(enabled=False)})
    }
)
NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(hours=2)


@pytest.fixture(scope="module")
async def engine(infra: Infrastructure) -> AsyncIterator[Any]:
    async with notify_engine(
        infra.database_url, outbox_service=OUTBOX, customer_prefix="batch-"
    ) as engine:
        yield engine


def _intake(engine: Any, transactions: int = 2) -> Intake:
    return Intake(
        engine, BOOK, lambda: NOW, "s", dedup_owner=OUTBOX, outbox_service=OUTBOX,
        transactions_per_batch=transactions,
    )  # fmt: skip


def _profile(customer: str) -> Observation:
    return Observation(uuid.uuid4().hex, customer, T0, profile={"email": f"{customer}@x.io"})


def _churned(customer: str, at: datetime = T0) -> Observation:
    trigger = Trigger(TriggerKind.STAGE_ENTERED, customer, f"{customer}:churn", at, stage="churn")
    return Observation(uuid.uuid4().hex, customer, at, trigger=trigger, stage="churn")


def _at_risk(customer: str) -> Observation:
    trigger = Trigger(TriggerKind.FLAG_SET, customer, f"{customer}:risk", T0, flag="at_risk")
    return Observation(uuid.uuid4().hex, customer, T0, trigger=trigger)


def _event(customer: str, kind: str, minutes: int, event_id: str | None = None) -> Observation:
    """A customer event as observe_customer_event makes it (a trigger and a cancel event)."""
    at = T0 + timedelta(minutes=minutes)
    event_id = event_id or uuid.uuid4().hex
    trigger = Trigger(TriggerKind.EVENT, customer, event_id, at, event=kind)
    return Observation(event_id, customer, at, trigger=trigger, cancel_event=kind)


def _complaint(customer: str, minutes: int) -> Observation:
    at = T0 + timedelta(minutes=minutes)
    name = "complaint.opened"
    trigger = Trigger(
        TriggerKind.EVENT, customer, f"{name}:t1", at, event=name, context={"ticket_id": "t1"}
    )
    return Observation(uuid.uuid4().hex, customer, at, trigger=trigger, cancel_event=name)


def _retraction(customer: str, minutes: int) -> Observation:
    at = T0 + timedelta(minutes=minutes)
    return Observation(
        uuid.uuid4().hex, customer, at, stage="at_risk", retracts=f"{customer}:churn"
    )


async def _messages(engine: Any, run: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(customer letter, step) -> (status, reason)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(notify_messages).where(notify_messages.c.customer_id.like(f"batch-{run}-%"))
        )
        return {(r.customer_id[-1], r.step): (r.status, r.reason) for r in rows}


async def _records(engine: Any, run: str) -> list[tuple[str, str, str, str]]:
    """(customer letter, step, status, reason) of each outbox record, in the relay's order."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.value).where(outbox.c.service == OUTBOX).order_by(outbox.c.id)
        )
        found = [orjson.loads(value) for (value,) in rows]  # binary mode: the value is the data
    return [
        (d["customer_id"][-1], d["step"], d["status"], d["reason"])
        for d in found
        if d["customer_id"].startswith(f"batch-{run}-")
    ]


async def test_a_batch_cancels_what_each_event_would_with_its_reason(engine: Any) -> None:
    run = uuid.uuid4().hex[:6]
    c = {letter: f"batch-{run}-{letter}" for letter in "abcdefghi"}
    intake = _intake(engine, transactions=1)  # one transaction: one order across customers
    await intake.observe([_profile(x) for x in c.values()], "seed")
    seed = [_churned(c[x]) for x in "abdhi"] + [
        _at_risk(c["c"]),
        _churned(c["e"], T0 + timedelta(hours=1)),
    ]
    await intake.observe(seed, "seed")
    seeded = await _records(engine, run)

    first = _event(c["a"], "purchase", 10)
    batch = [
        first,  # cancels a's win-back offer and follow-up
        _event(c["a"], "purchase", 20),  # nothing left to cancel
        first,  # the same event twice in one batch counts once
        _event(c["b"], "contact", 10),  # a contact cancels no win-back
        _event(c["c"], "purchase", 5),  # cancels the at-risk care message
        _retraction(c["d"], 30),  # the churn entry never happened: its steps are void
        _event(c["e"], "purchase", 30),  # older than e's churn: cancels nothing
        _churned(c["f"], T0 + timedelta(minutes=15)),  # scheduled, then cancelled by ...
        _event(c["f"], "purchase", 20),  # ... this purchase after it
        _event(c["g"], "purchase", 20),  # a purchase before a churn that arrives after it
        _churned(c["g"], T0 + timedelta(minutes=15)),
        _complaint(c["b"], 40),  # schedules an acknowledgement nothing cancels
        _event(c["b"], "purchase", 50),  # cancels b's win-back, not the acknowledgement
        _event(c["h"], "purchase", 10),  # the first to cancel a message names its reason
        _retraction(c["h"], 30),
        _retraction(c["i"], 30),
        _event(c["i"], "purchase", 40),
    ]
    decided = await intake.observe(batch, "events")

    by_purchase, retracted = "cancelled_by:purchase", "trigger_retracted"
    offer, follow_up = "win_back_offer", "win_back_follow_up"
    assert await _messages(engine, run) == {
        ("a", offer): ("cancelled", by_purchase),
        ("a", follow_up): ("cancelled", by_purchase),
        ("b", offer): ("cancelled", by_purchase),
        ("b", follow_up): ("cancelled", by_purchase),
        ("b", "acknowledgement"): ("scheduled", "due"),
        ("c", "care_message"): ("cancelled", by_purchase),
        ("d", offer): ("cancelled", retracted),
        ("d", follow_up): ("cancelled", retracted),
        ("e", offer): ("scheduled", "due"),
        ("e", follow_up): ("scheduled", "waiting"),
        ("f", offer): ("cancelled", by_purchase),
        ("f", follow_up): ("cancelled", by_purchase),
        ("g", offer): ("cancelled", by_purchase),
        ("g", follow_up): ("cancelled", by_purchase),
        ("h", offer): ("cancelled", by_purchase),
        ("h", follow_up): ("cancelled", by_purchase),
        ("i", offer): ("cancelled", retracted),
        ("i", follow_up): ("cancelled", retracted),
    }
    records = (await _records(engine, run))[len(seeded) :]
    scheduled = [
        ("f", offer, "scheduled", "due"),
        ("f", follow_up, "scheduled", "waiting"),
        ("g", offer, "scheduled", "due"),
        ("g", follow_up, "scheduled", "waiting"),
        ("b", "acknowledgement", "scheduled", "due"),
    ]
    # New messages first, then the cancellations in the order of the events deciding them.
    assert records[: len(scheduled)] == scheduled
    cancellations = [
        (x, step, "cancelled", reason)
        for x, reason in [
            ("a", by_purchase),
            ("c", by_purchase),
            ("d", retracted),
            ("f", by_purchase),
            ("g", by_purchase),
            ("b", by_purchase),
            ("h", by_purchase),
            ("i", retracted),
        ]
        for step in sorted((offer, follow_up) if x != "c" else ("care_message",))
    ]
    assert sorted(records[len(scheduled) :]) == sorted(cancellations)
    assert [r[0] for r in records[len(scheduled) :]] == [x for x, *_ in cancellations]
    assert decided == len(records) == len(scheduled) + len(cancellations)

    # Redelivered: the dedup rows make the whole batch a no-op.
    assert await intake.observe(batch, "events") == 0
    assert len(await _records(engine, run)) == len(seeded) + len(records)


async def _statements(engine: Any, observations: list[Observation]) -> int:
    """Statements the intake sent to PostgreSQL for one batch."""
    sent: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    sa.event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        await _intake(engine).observe(observations, "events")
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", count)
    return len(sent)


@pytest.mark.parametrize("kind", ["purchase", "contact"])
async def test_a_batch_of_customer_events_costs_the_same_statements_whatever_its_size(
    engine: Any, kind: str
) -> None:
    run = uuid.uuid4().hex[:6]
    customers = [f"batch-{run}-{i}" for i in range(40)]
    intake = _intake(engine)
    await intake.observe([_profile(x) for x in customers], "seed")
    await intake.observe([_churned(x) for x in customers], "seed")

    small = await _statements(engine, [_event(x, kind, 10) for x in customers[:4]])
    large = await _statements(engine, [_event(x, kind, 10) for x in customers[4:]] * 2)

    assert large == small


def _mixed_batch(customer: dict[str, str]) -> list[Observation]:
    """Purchases and contacts after the seeded churns, a churn cancelled in the same batch."""
    return [
        _event(customer["a"], "purchase", 10),
        _event(customer["b"], "contact", 10),
        _churned(customer["c"], T0 + timedelta(minutes=15)),
        _event(customer["c"], "purchase", 20),
        _complaint(customer["d"], 40),
        _event(customer["d"], "purchase", 50),
        _retraction(customer["e"], 30),
        _event(customer["f"], "purchase", 5),
    ]


async def _decide(engine: Any, run: str, transactions: int) -> tuple[Any, Any, int]:
    """The mixed batch through an intake of `transactions` parts: messages, each customer's
    outbox records, and how many messages it decided."""
    customer = {letter: f"batch-{run}-{letter}" for letter in "abcdef"}
    intake = _intake(engine, transactions)
    await intake.observe([_profile(x) for x in customer.values()], "seed")
    await intake.observe([_churned(customer[x]) for x in "abdef"], "seed")
    seeded = len(await _records(engine, run))
    decided = await intake.observe(_mixed_batch(customer), "events")
    by_customer: dict[str, list[tuple[str, str, str]]] = {}
    for letter, step, status, reason in (await _records(engine, run))[seeded:]:
        by_customer.setdefault(letter, []).append((step, status, reason))
    # One decision's records come in message-id order, and ids differ between runs: each
    # customer's records as a set, beside the order of the decisions (scheduled, cancelled).
    ordered = {
        letter: (sorted(records), [(status, reason) for _, status, reason in records])
        for letter, records in by_customer.items()
    }
    return await _messages(engine, run), ordered, decided


async def test_a_batch_split_into_concurrent_transactions_decides_as_one_does(
    engine: Any,
) -> None:
    one = await _decide(engine, uuid.uuid4().hex[:6], transactions=1)
    split = await _decide(engine, uuid.uuid4().hex[:6], transactions=3)

    assert one[2] > 0 and set(one[1]) == set("acdef")  # b's contact decides nothing
    assert split == one


async def test_a_locked_customer_holds_up_only_its_own_part_of_the_batch(engine: Any) -> None:
    run = uuid.uuid4().hex[:6]
    first, second = f"batch-{run}-a", f"batch-{run}-b"  # sorted: a part each
    intake = _intake(engine, transactions=2)
    await intake.observe([_profile(first), _profile(second)], "seed")
    await intake.observe([_churned(first), _churned(second)], "seed")

    async with engine.connect() as other:
        await other.execute(  # another transaction about `first`, still open
            sa.text("SELECT 1 FROM notify_customers WHERE customer_id = :c FOR UPDATE"),
            {"c": first},
        )
        observing = asyncio.create_task(
            intake.observe(
                [_event(first, "purchase", 10), _event(second, "purchase", 10)], "events"
            )
        )

        async def second_cancelled() -> bool:
            return await _status(engine, second, "win_back_offer") == "cancelled"

        # `second`'s part commits while `first`'s waits for the lock.
        await eventually(second_cancelled, timeout=15, what=f"{second}'s offer cancelled")
        assert await _status(engine, first, "win_back_offer") == "scheduled"
        assert not observing.done()
        await other.rollback()
    assert await asyncio.wait_for(observing, 15) == 4
    assert await _status(engine, first, "win_back_offer") == "cancelled"


async def _status(engine: Any, customer: str, step: str) -> str | None:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                sa.select(notify_messages.c.status).where(
                    notify_messages.c.customer_id == customer, notify_messages.c.step == step
                )
            )
        ).scalar_one_or_none()
