"""A welcome triggered before notify has the customer's profile waits for the address.

Lifecycle changes (clm.lifecycle-changes.v1) and profile events (clm.customer-events.v1) come
from the same ingest POSTs but reach notify on two topics, read by two groups: under lag the
stage change that starts the welcome is planned before the profile carrying the email is
merged. The race is made deterministic here: the stage change is published first, notify plans
the welcome, and only then is the profile event published. The welcome must still go out once.

The grace itself (CLM_NOTIFY_ADDRESS_GRACE) is tested with the real Intake and Sender on the
real PostgreSQL and a real SMTP server, with a clock the test moves.
"""

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from services.notify.adapters.tables import notify_messages
from services.notify.bootstrap import build_channels, load_configuration
from services.notify.domain import Trigger, TriggerKind
from services.notify.domain.playbooks import QuietHours
from services.notify.service_layer.intake import Intake
from services.notify.service_layer.observations import Observation
from services.notify.service_layer.sender import Sender, SenderConfig
from services.notify.settings import NotifySettings
from shared.topics import CUSTOMER_EVENTS, LIFECYCLE_CHANGES
from tests.integration.test_notify import MIDDAY, _change, _publish_change
from tests.support.factories import new_customer, profile
from tests.support.infra import Infrastructure
from tests.support.mailbox import Mailbox, smtp_server
from tests.support.notify_rows import notify_engine
from tests.support.polling import eventually
from tests.support.services import ServiceProcess, service_client
from tests.support.topics import start_group_at_end

GROUP = f"clm-notify-await-test-{uuid.uuid4().hex[:8]}"
OUTBOX = f"notify-await-{uuid.uuid4().hex[:6]}"
GRACE = timedelta(minutes=10)


@pytest.fixture(scope="module")
def inbox() -> Any:
    with smtp_server() as running:
        yield running


@pytest.fixture(scope="module")
async def notify(
    infra: Infrastructure, inbox: Any, start_service: Callable[..., ServiceProcess]
) -> ServiceProcess:
    await start_group_at_end(infra.kafka_bootstrap, f"{GROUP}-lifecycle", [LIFECYCLE_CHANGES])
    await start_group_at_end(infra.kafka_bootstrap, f"{GROUP}-events", [CUSTOMER_EVENTS])
    controller, _ = inbox
    return start_service(
        "notify",
        CLM_NOTIFY_CONSUMER_GROUP=GROUP,
        CLM_NOTIFY_RUN_SCORES_CONSUMER="false",
        CLM_NOTIFY_RUN_CALENDAR="false",
        CLM_NOTIFY_SMTP_PORT=str(controller.port),
        CLM_NOTIFY_SENDER_INTERVAL_SECONDS="0.2",
    )


@pytest.fixture
async def client(notify: ServiceProcess, admin_key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client(notify, admin_key) as c:
        yield c


async def _welcome_when(
    client: httpx.AsyncClient, customer: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        resp = await client.get(f"/v1/customers/{customer}/messages")
        assert resp.status_code == 200, resp.text
        found = [m for m in resp.json()["items"] if m["step"] == "welcome"]
        return found[0] if found and done(found[0]) else None

    return await eventually(probe, timeout=60, interval=0.2, what=f"the welcome of {customer}")


async def test_a_welcome_triggered_before_the_profile_arrives_goes_out_once_it_does(
    infra: Infrastructure,
    ingest_client: httpx.AsyncClient,
    client: httpx.AsyncClient,
    inbox: Any,
) -> None:
    customer = new_customer("await")
    email = f"{customer}@example.com"
    entered = _change(customer, "stage", from_stage="acquisition", to_stage="development")
    await _publish_change(infra.kafka_bootstrap, [entered])  # the trigger wins the race
    planned = await _welcome_when(client, customer, lambda m: True)
    assert (planned["status"], planned["reason"]) == ("scheduled", "awaiting_address")

    fields = {"name": "Ann", "email": email, "locale": "en", "timezone": MIDDAY}
    resp = await ingest_client.post("/v1/events", json=profile(customer, **fields))
    assert resp.status_code == 202, resp.text
    sent = await _welcome_when(client, customer, lambda m: m["status"] == "sent")

    handler: Mailbox = inbox[1]
    await eventually(lambda: _async(handler.to(email)), timeout=30, what="the welcome email")
    assert [m["Subject"] for m in handler.to(email)] == ["Welcome, Ann!"]
    reasons = [h["reason"] for h in sent["history"]]
    assert reasons[0] == "awaiting_address" and "profile_arrived" in reasons
    # long before the grace ends: the profile's arrival made it due
    sent_at = datetime.fromisoformat(sent["sent_at"])
    assert sent_at < datetime.fromisoformat(sent["trigger_at"]) + GRACE


async def _async(value: Any) -> Any:
    return value


# --- the grace, with the real Intake and Sender and a clock the test moves -----------------


@pytest.fixture(scope="module")
async def engine(infra: Infrastructure) -> AsyncIterator[Any]:
    async with notify_engine(
        infra.database_url, outbox_service=OUTBOX, customer_prefix="grace-"
    ) as engine:
        yield engine


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _entered(customer: str, at: datetime) -> Observation:
    trigger = Trigger(
        TriggerKind.STAGE_ENTERED,
        customer,
        f"{customer}:dev",
        at,
        stage="development",
        from_stage="acquisition",
    )
    return Observation(uuid.uuid4().hex, customer, at, trigger=trigger, stage="development")


async def _welcome(engine: Any, customer: str) -> Any:
    async with engine.connect() as conn:
        query = sa.select(notify_messages).where(
            notify_messages.c.customer_id == customer, notify_messages.c.step == "welcome"
        )
        return (await conn.execute(query)).one()


async def _run_for(sender: Sender, engine: Any, customer: str, status: str) -> Any:
    """Runs the sender until the customer's welcome has `status` (other rows may be due)."""

    async def probe() -> Any:
        await sender.run_once()
        row = await _welcome(engine, customer)
        return row if row.status == status else None

    return await eventually(probe, timeout=30, interval=0.05, what=f"{customer} {status}")


async def test_the_grace_ends_in_no_address_and_an_address_in_it_sends_once(
    engine: Any, inbox: Any
) -> None:
    controller, handler = inbox
    settings = NotifySettings(smtp_port=controller.port)
    config = load_configuration(settings)
    policy = config.book.policy.model_copy(update={"quiet_hours": QuietHours(enabled=False)})
    book = config.book.model_copy(update={"policy": policy})
    start = datetime.now(UTC).replace(microsecond=0)
    clock = _Clock(start)
    intake = Intake(
        engine, book, clock, "s", dedup_owner=OUTBOX, outbox_service=OUTBOX, address_grace=GRACE
    )
    sender = Sender(
        engine,
        book,
        config.templates,
        build_channels(settings),
        clock,
        SenderConfig(address_grace=GRACE),
        outbox_service=OUTBOX,
    )
    run = uuid.uuid4().hex[:6]
    never, late = f"grace-{run}-never", f"grace-{run}-late"
    await intake.observe([_entered(never, start), _entered(late, start)], "grace")
    for customer in (never, late):
        row = await _welcome(engine, customer)
        assert (row.status, row.reason, row.due_at) == (
            "scheduled",
            "awaiting_address",
            start + GRACE,
        )

    clock.now = start + timedelta(minutes=9)  # the profile comes within the grace
    email = f"{late}@example.com"
    came = Observation(uuid.uuid4().hex, late, clock.now, profile={"name": "Ann", "email": email})
    await intake.observe([came], "grace")
    sent = await _run_for(sender, engine, late, "sent")
    assert sent.attempts == 1
    assert (await _welcome(engine, never)).status == "scheduled"  # still waiting

    clock.now = start + GRACE  # the grace is over: no profile came
    gone = await _run_for(sender, engine, never, "suppressed")
    assert gone.reason == "no_address:email"

    clock.now = start + GRACE + timedelta(minutes=1)
    await sender.run_once()
    assert (await _welcome(engine, late)).attempts == 1  # never twice
    mails = await eventually(lambda: _async(handler.to(email)), timeout=30, what="the welcome")
    assert [m["Subject"] for m in mails] == ["Welcome, Ann!"]
