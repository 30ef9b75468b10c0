"""Periodic care end to end: maintenance_care checks in on day 90, 180... and stops at churn.

Real notify processes on the real Kafka and PostgreSQL with a shifted clock, a real SMTP server
(aiosmtpd). Intake runs with the true clock (a trigger seen 90 days late would be stale); the
sender runs "90 days later", "180 days later"..., two instances at once on day 90.
"""

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from shared.topics import CUSTOMER_EVENTS, LIFECYCLE_CHANGES, NOTIFICATIONS
from tests.integration.test_notify import (
    MIDDAY,
    _change,
    _publish_change,
)
from tests.support.factories import new_customer, profile
from tests.support.infra import Infrastructure
from tests.support.mailbox import Mailbox, smtp_server
from tests.support.notify_probes import profile_merged
from tests.support.polling import eventually
from tests.support.services import ServiceProcess
from tests.support.topics import TopicTail, start_group_at_end

GROUP = f"clm-notify-repeat-test-{uuid.uuid4().hex[:8]}"
DAY = 86400
CARE_SUBJECT = "We are here for you, Ann"


@pytest.fixture(scope="module")
def inbox() -> Any:
    with smtp_server() as running:
        yield running


@pytest.fixture(scope="module")
async def env(infra: Infrastructure, inbox: Any) -> dict[str, str]:
    await start_group_at_end(infra.kafka_bootstrap, f"{GROUP}-lifecycle", [LIFECYCLE_CHANGES])
    await start_group_at_end(infra.kafka_bootstrap, f"{GROUP}-events", [CUSTOMER_EVENTS])
    controller, _ = inbox
    return {
        "CLM_NOTIFY_CONSUMER_GROUP": GROUP,
        "CLM_NOTIFY_RUN_SCORES_CONSUMER": "false",
        "CLM_NOTIFY_RUN_CALENDAR": "false",
        "CLM_NOTIFY_SMTP_PORT": str(controller.port),
        "CLM_NOTIFY_SENDER_INTERVAL_SECONDS": "0.2",
        "CLM_NOTIFY_RETRY_BASE_SECONDS": "0.5",
        "CLM_NOTIFY_RETRY_MAX_SECONDS": "2",
    }


@pytest.fixture
def later(
    start_service: Callable[..., ServiceProcess], env: dict[str, str]
) -> Callable[[float], ServiceProcess]:
    """A notify instance whose clock runs `days` ahead (0: today)."""

    def start(days: float) -> ServiceProcess:
        offset = str(days * DAY + (600 if days else 0))
        return start_service("notify", **env, CLM_NOTIFY_CLOCK_OFFSET_SECONDS=offset)

    return start


@pytest.fixture
async def api(admin_key: str) -> AsyncIterator[Callable[[ServiceProcess], httpx.AsyncClient]]:
    clients: list[httpx.AsyncClient] = []

    def connect(service: ServiceProcess) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {admin_key}"}
        clients.append(httpx.AsyncClient(base_url=service.url, headers=headers, timeout=30))
        return clients[-1]

    yield connect
    for c in clients:
        await c.aclose()


Messages = list[dict[str, Any]]


async def _messages_when(
    client: httpx.AsyncClient, customer: str, done: Callable[[Messages], bool], what: str
) -> Messages:
    async def probe() -> Messages | None:
        resp = await client.get(f"/v1/customers/{customer}/messages")
        assert resp.status_code == 200, resp.text
        items: Messages = resp.json()["items"]
        return items if done(items) else None

    return await eventually(probe, timeout=60, interval=0.2, what=what)


def _check_in(items: Messages, repeat: int) -> dict[str, Any] | None:
    found = [m for m in items if m["step"] == "care_check_in" and m["repeat"] == repeat]
    assert len(found) <= 1, found
    return found[0] if found else None


def _is(repeat: int, status: str) -> Callable[[Messages], bool]:
    def check(items: Messages) -> bool:
        found = _check_in(items, repeat)
        return found is not None and found["status"] == status

    return check


def _care_mails(inbox: Any, email: str) -> list[str]:
    handler: Mailbox = inbox[1]
    return [m["Subject"] for m in handler.to(email) if m["Subject"] == CARE_SUBJECT]


async def test_a_maintenance_customer_is_checked_in_every_90_days_until_they_churn(
    infra: Infrastructure,
    ingest_client: httpx.AsyncClient,
    later: Callable[[float], ServiceProcess],
    api: Callable[[ServiceProcess], httpx.AsyncClient],
    inbox: Any,
) -> None:
    customer = new_customer("care")
    email = f"{customer}@example.com"
    today = later(0)
    client = api(today)
    consent = {"email": True}  # the default, said explicitly: profile_merged waits for it
    fields: dict[str, Any] = {
        "name": "Ann",
        "email": email,
        "locale": "en",
        "timezone": MIDDAY,
        "consent": consent,
    }
    assert (await ingest_client.post("/v1/events", json=profile(customer, **fields))).is_success
    await profile_merged(client, customer, consent)
    entered = _change(customer, "stage", from_stage="development", to_stage="maintenance")
    await _publish_change(infra.kafka_bootstrap, [entered])
    items = await _messages_when(client, customer, _is(0, "scheduled"), "the first check-in")
    first = _check_in(items, 0)
    assert first is not None
    trigger_at = datetime.fromisoformat(first["trigger_at"])
    assert datetime.fromisoformat(first["due_at"]) - trigger_at == timedelta(days=90)
    assert {m["step"] for m in items if m["playbook"] == "maintenance_care"} == {
        "thank_you", "care_check_in",
    }  # fmt: skip
    today.stop()

    # Day 90, two senders sharing the schedule: one check-in, the next one scheduled for day 180.
    async with TopicTail(infra.kafka_bootstrap, NOTIFICATIONS) as tail:
        day90 = [later(90), later(90)]
        client = api(day90[0])
        items = await _messages_when(client, customer, _is(1, "scheduled"), "repeat 1 scheduled")
        decisions = await tail.collect(
            lambda r: r.key == customer.encode(),
            until=lambda kept: any(_data(r)["reason"] == "repeat:1" for r in kept),
        )
    first, second = _check_in(items, 0), _check_in(items, 1)
    assert first is not None and second is not None
    assert (first["status"], first["reason"]) == ("sent", "delivered")
    assert datetime.fromisoformat(second["due_at"]) - trigger_at == timedelta(days=180)
    assert second["occurrence_id"] == first["occurrence_id"] and second["id"] != first["id"]
    assert ("care_check_in", "scheduled", second["id"]) in {
        (d["step"], d["status"], d["message_id"]) for d in map(_data, decisions)
    }
    await eventually(
        lambda: _async(_care_mails(inbox, email)), timeout=30, what="the day-90 check-in"
    )
    for service in day90:
        service.stop()
    assert _care_mails(inbox, email) == [CARE_SUBJECT]

    # Day 180: the second check-in, then the customer churns (as seen on day 180).
    day180 = later(180)
    client = api(day180)
    items = await _messages_when(client, customer, _is(2, "scheduled"), "repeat 2 scheduled")
    assert _is(1, "sent")(items)
    third = _check_in(items, 2)
    assert third is not None
    assert datetime.fromisoformat(third["due_at"]) - trigger_at == timedelta(days=270)
    await eventually(
        lambda: _async(len(_care_mails(inbox, email)) == 2), timeout=30, what="day-180 check-in"
    )
    churned_at = datetime.now(UTC) + timedelta(days=180, minutes=10)
    churn = _change(
        customer, "stage", from_stage="maintenance", to_stage="churn",
        occurred_at=churned_at.isoformat(),
    )  # fmt: skip
    await _publish_change(infra.kafka_bootstrap, [churn])
    await _messages_when(
        client, customer, lambda ms: any(m["playbook"] == "churned" for m in ms), "churn seen"
    )
    day180.stop()

    # Day 270: the third check-in comes due for a churned customer: cancelled, not sent.
    async with TopicTail(infra.kafka_bootstrap, NOTIFICATIONS) as tail:
        day270 = later(270)
        client = api(day270)
        items = await _messages_when(client, customer, _is(2, "cancelled"), "repeat 2 cancelled")
        decisions = await tail.collect(
            lambda r: r.key == customer.encode(),
            until=lambda kept: any(_data(r)["status"] == "cancelled" for r in kept),
        )
    third = _check_in(items, 2)
    assert third is not None and third["reason"] == "left_stage:maintenance"
    assert [h["status"] for h in third["history"]] == ["scheduled", "cancelled"]
    assert _check_in(items, 3) is None
    cancelled = [d for d in map(_data, decisions) if d["status"] == "cancelled"]
    assert [(d["message_id"], d["reason"]) for d in cancelled] == [
        (third["id"], "left_stage:maintenance")
    ]
    day270.stop()
    assert _care_mails(inbox, email) == [CARE_SUBJECT] * 2


def _data(record: Any) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(record.value)
    return data


async def _async(value: Any) -> Any:
    return value
