"""Notify end to end: ingest -> lifecycle -> notify -> a real SMTP server and HTTP receiver.

The SMTP server (aiosmtpd) and the webhook/SMS receiver (aiohttp) run in the test process; the
services are real uvicorn processes on the real Kafka and PostgreSQL. Customers get a time zone
where it is midday now, so quiet hours never get in the way unless a test wants them.
"""

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest
from aiohttp import web
from aiokafka import AIOKafkaProducer

from services.notify.domain.signature import SIGNATURE_HEADER, SignatureError, verify
from shared.cloudevents import CloudEvent, to_kafka
from shared.topics import CUSTOMER_EVENTS, CUSTOMER_SCORES, LIFECYCLE_CHANGES, NOTIFICATIONS
from tests.support.factories import complaint, new_customer, profile, purchase
from tests.support.infra import Infrastructure
from tests.support.mailbox import Mailbox, smtp_server, text_of
from tests.support.notify_probes import clv_band_shown, profile_merged
from tests.support.playbook_files import default_playbooks, write_playbooks
from tests.support.polling import eventually
from tests.support.services import ServiceProcess, free_port, service_client
from tests.support.topics import TopicTail, start_group_at_end

WEBHOOK_SECRET = "whsec-test-" + uuid.uuid4().hex
GROUP = f"clm-notify-test-{uuid.uuid4().hex[:8]}"
DAY = 86400


def zone_where_it_is(hour: int) -> str:
    """An Etc/GMT zone whose local time is now about `hour` o'clock (Etc signs are inverted)."""
    offset = (hour - datetime.now(UTC).hour + 12) % 24 - 12
    if offset == -12:
        offset = 12
    return "Etc/GMT" + (f"-{offset}" if offset > 0 else f"+{-offset}" if offset < 0 else "")


MIDDAY = zone_where_it_is(12)


@dataclass
class Receiver:
    url: str
    tasks: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    sms: list[dict[str, Any]] = field(default_factory=list)

    def tasks_for(self, customer: str) -> list[dict[str, Any]]:
        return [t for t in self.tasks if t["customer_id"] == customer]


@pytest.fixture(scope="module")
def mailbox() -> Any:
    with smtp_server() as running:
        yield running


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    found = Receiver(f"http://127.0.0.1:{port}")

    async def on_task(request: web.Request) -> web.Response:
        body = await request.read()
        try:  # what a receiving system does with the shared secret
            verify(WEBHOOK_SECRET, request.headers.get(SIGNATURE_HEADER, ""), body)
        except SignatureError as exc:
            found.rejected.append(str(exc))
            return web.json_response({"error": str(exc)}, status=400)
        found.tasks.append(orjson.loads(body))
        return web.json_response({"accepted": True})

    async def on_sms(request: web.Request) -> web.Response:
        found.sms.append(await request.json())
        return web.json_response({"id": uuid.uuid4().hex}, status=202)

    app = web.Application()
    app.router.add_post("/tasks", on_task)
    app.router.add_post("/v1/messages", on_sms)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield found
    await runner.cleanup()


@pytest.fixture(scope="module")
def playbooks(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The default playbooks, with room in the account managers' queue for every test's
    tasks: the day's capacity counts the whole shared database (test_notify_task_queues.py
    tests the capacity itself)."""
    raw = default_playbooks()
    for queue in raw["policy"]["task_queues"]:
        queue["daily_capacity"] = 1_000_000
    path = write_playbooks(raw, tmp_path_factory, "notify")
    return str(path)


@pytest.fixture(scope="module")
async def notify_env(
    infra: Infrastructure, mailbox: Any, receiver: Receiver, playbooks: str
) -> dict[str, str]:
    await start_group_at_end(infra.kafka_bootstrap, f"{GROUP}-lifecycle", [LIFECYCLE_CHANGES])
    await start_group_at_end(infra.kafka_bootstrap, f"{GROUP}-events", [CUSTOMER_EVENTS])
    await start_group_at_end(infra.kafka_bootstrap, f"{GROUP}-scores", [CUSTOMER_SCORES])
    controller, _ = mailbox
    return {
        "CLM_NOTIFY_CONSUMER_GROUP": GROUP,
        "CLM_NOTIFY_PLAYBOOKS_PATH": playbooks,
        "CLM_NOTIFY_SMTP_PORT": str(controller.port),
        "CLM_NOTIFY_WEBHOOK_URL": f"{receiver.url}/tasks",
        "CLM_NOTIFY_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "CLM_NOTIFY_SMS_BASE_URL": receiver.url,
        "CLM_NOTIFY_SENDER_INTERVAL_SECONDS": "0.2",
        "CLM_NOTIFY_CALENDAR_INTERVAL_SECONDS": "1",
        "CLM_NOTIFY_RETRY_BASE_SECONDS": "0.5",
        "CLM_NOTIFY_RETRY_MAX_SECONDS": "2",
    }


@pytest.fixture(scope="module")
def lifecycle(start_service: Callable[..., ServiceProcess]) -> ServiceProcess:
    return start_service("lifecycle")


@pytest.fixture(scope="module")
def notify(
    start_service: Callable[..., ServiceProcess], notify_env: dict[str, str]
) -> ServiceProcess:
    return start_service("notify", **notify_env)


@pytest.fixture
async def client(notify: ServiceProcess, admin_key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client(notify, admin_key) as c:
        yield c


def _inbox(mailbox: Any) -> Mailbox:
    return mailbox[1]  # type: ignore[no-any-return]


async def _messages_when(
    client: httpx.AsyncClient, customer: str, done: Callable[[dict[str, dict[str, Any]]], bool]
) -> dict[str, dict[str, Any]]:
    async def probe() -> dict[str, dict[str, Any]] | None:
        resp = await client.get(f"/v1/customers/{customer}/messages")
        assert resp.status_code == 200, resp.text
        by_step = {m["step"]: m for m in resp.json()["items"]}
        return by_step if done(by_step) else None

    return await eventually(probe, timeout=60, interval=0.2, what=f"messages of {customer}")


def _status(step: str, status: str) -> Callable[[dict[str, dict[str, Any]]], bool]:
    return lambda by_step: step in by_step and by_step[step]["status"] == status


async def _new_contact(
    ingest_client: httpx.AsyncClient,
    client: httpx.AsyncClient,
    *,
    prefix: str = "ntf",
    zone: str = MIDDAY,
    **data: Any,
) -> tuple[str, str]:
    customer = new_customer(prefix)
    email = data.pop("email", f"{customer}@example.com")
    fields = {"name": "Ann", "email": email, "locale": "en", "timezone": zone}
    fields |= {"consent": {"email": True}} | data  # the default, said: profile_merged waits for it
    resp = await ingest_client.post("/v1/events", json=profile(customer, **fields))
    assert resp.status_code == 202, resp.text
    await profile_merged(client, customer, fields["consent"])
    return customer, email


async def _publish_change(bootstrap: str, records: list[CloudEvent]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for event in records:
            r = to_kafka(LIFECYCLE_CHANGES, event)
            await producer.send_and_wait(r.topic, r.value, key=r.key, headers=r.headers)
    finally:
        await producer.stop()


def _change(
    customer: str,
    kind: str,
    *,
    ce_id: str | None = None,
    transition: str | None = None,
    **data: Any,
) -> CloudEvent:
    transition = transition or str(uuid.uuid4())
    now = datetime.now(UTC)
    body = {
        "customer_id": customer,
        "from_stage": "development",
        "to_stage": "development",
        "flag": None,
        "flag_value": None,
        "occurred_at": now.isoformat(),
        "reason": "test",
        "cause_event_id": "evt-test",
        "transition_id": transition,
        "kind": kind,
        "from_tier": None,
        "to_tier": None,
        "retracts": None,
    } | data
    return CloudEvent(
        id=ce_id or transition,
        source="/clm/lifecycle",
        type=f"clm.lifecycle.{kind}_changed",
        subject=customer,
        time=now,
        data=body,
        dataschema="urn:clm:schema:lifecycle-change:v1",
    )


async def test_playbooks_are_listed_and_previewed(
    client: httpx.AsyncClient, ingest_client: httpx.AsyncClient, key_factory: Any
) -> None:
    resp = await client.get("/v1/playbooks")
    assert resp.status_code == 200
    names = [p["name"] for p in resp.json()["playbooks"]]
    assert {"new_customer", "at_risk", "churned", "complaint_opened"} <= set(names)
    customer, _ = await _new_contact(ingest_client, client, name="王芳", locale="zh-CN")
    preview = await client.post(f"/v1/playbooks/churned/preview?customer_id={customer}")
    assert preview.status_code == 200, preview.text
    offer = preview.json()["steps"][0]
    assert offer["locale"] == "zh-CN"
    assert "王芳" in offer["body"] and "WB-" in offer["body"]
    missing = await client.post(f"/v1/playbooks/nope/preview?customer_id={customer}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    reader_only = key_factory(["customers:read"])
    denied = await client.get("/v1/playbooks", headers={"Authorization": f"Bearer {reader_only}"})
    assert denied.status_code == 403
    assert (await client.get("/v1/playbooks", headers={"Authorization": ""})).status_code == 401


async def test_a_first_purchase_sends_the_welcome_email_and_schedules_the_rest(
    infra: Infrastructure,
    lifecycle: ServiceProcess,
    ingest_client: httpx.AsyncClient,
    client: httpx.AsyncClient,
    mailbox: Any,
) -> None:
    customer, email = await _new_contact(ingest_client, client)
    async with TopicTail(infra.kafka_bootstrap, NOTIFICATIONS) as tail:
        resp = await ingest_client.post("/v1/events", json=purchase(customer))
        assert resp.status_code == 202
        await eventually(
            lambda: _async(_inbox(mailbox).to(email)), timeout=60, what="the welcome email"
        )
        by_step = await _messages_when(client, customer, _status("welcome", "sent"))
        published = await tail.collect(
            lambda r: r.key == customer.encode(),
            until=lambda kept: any(
                dict(r.headers)["ce_type"] == b"clm.notify.message_sent" for r in kept
            ),
        )
    [mail] = _inbox(mailbox).to(email)
    assert mail["Subject"] == "Welcome, Ann!"
    assert mail["X-CLM-Message-Id"] == by_step["welcome"]["id"]
    assert by_step["welcome"]["provider_response"]
    start = datetime.fromisoformat(by_step["welcome"]["trigger_at"])
    for step, days in (("usage_checklist", 3), ("call_back", 7), ("value_report", 30)):
        assert by_step[step]["status"] == "scheduled"
        due = datetime.fromisoformat(by_step[step]["due_at"])
        assert due - start == timedelta(days=days)
    decisions = [orjson.loads(r.value) for r in published]
    assert {(d["step"], d["status"]) for d in decisions} >= {
        ("welcome", "scheduled"), ("welcome", "sent"), ("usage_checklist", "scheduled"),
    }  # fmt: skip
    sent = await client.get("/v1/messages", params={"status": "sent", "limit": 1000})
    assert by_step["welcome"]["id"] in {m["id"] for m in sent.json()["items"]}


async def _async(value: Any) -> Any:
    return value


async def test_an_opted_out_customer_is_suppressed_with_the_reason(
    lifecycle: ServiceProcess,
    ingest_client: httpx.AsyncClient,
    client: httpx.AsyncClient,
    mailbox: Any,
) -> None:
    customer, email = await _new_contact(ingest_client, client)
    resp = await client.put(f"/v1/customers/{customer}/preferences", json={"email": False})
    assert resp.status_code == 200
    assert resp.json()["effective"] == {"email": False, "sms": True}
    bad = await client.put(f"/v1/customers/{customer}/preferences", json={"fax": True})
    assert bad.status_code == 422
    await ingest_client.post("/v1/events", json=purchase(customer))
    by_step = await _messages_when(client, customer, _status("welcome", "suppressed"))
    assert by_step["welcome"]["reason"] == "opted_out:email"
    assert _inbox(mailbox).to(email) == []


async def test_consent_withdrawn_in_a_profile_event_suppresses_with_the_reason(
    lifecycle: ServiceProcess,
    ingest_client: httpx.AsyncClient,
    client: httpx.AsyncClient,
    mailbox: Any,
) -> None:
    customer, email = await _new_contact(ingest_client, client, consent={"email": False})
    await ingest_client.post("/v1/events", json=purchase(customer))
    by_step = await _messages_when(client, customer, _status("welcome", "suppressed"))
    assert by_step["welcome"]["reason"] == "opted_out:email"
    assert _inbox(mailbox).to(email) == []


async def test_a_resolved_complaint_gets_a_follow_up_on_day_one_and_a_survey_on_day_three(
    start_service: Callable[..., ServiceProcess],
    notify_env: dict[str, str],
    ingest_client: httpx.AsyncClient,
    client: httpx.AsyncClient,
    admin_key: str,
    mailbox: Any,
) -> None:
    customer, email = await _new_contact(ingest_client, client)
    await ingest_client.post("/v1/events", json=complaint(customer, ticket_id="R-1"))
    await _messages_when(client, customer, _status("acknowledgement", "sent"))
    resolved_at = datetime.now(UTC)
    resolved = complaint(customer, resolved_at, status="resolved", ticket_id="R-1")
    await ingest_client.post("/v1/events", json=resolved)
    by_step = await _messages_when(
        client, customer, lambda s: {"follow_up", "satisfaction_survey"} <= set(s)
    )
    for step, days in (("follow_up", 1), ("satisfaction_survey", 3)):
        assert by_step[step]["status"] == "scheduled"
        due = datetime.fromisoformat(by_step[step]["due_at"])
        assert abs(due - (resolved_at + timedelta(days=days))) < timedelta(minutes=1)

    # Three days later (a shifted clock) both are due and go out, once each.
    later = start_service(
        "notify", **notify_env, CLM_NOTIFY_CLOCK_OFFSET_SECONDS=str(3 * DAY + 600)
    )
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=later.url, headers=headers) as c:
        await _messages_when(
            c,
            customer,
            lambda s: _status("follow_up", "sent")(s) and _status("satisfaction_survey", "sent")(s),
        )
    later.stop()
    assert len(_inbox(mailbox).to(email)) == 3  # acknowledgement, follow-up, survey


async def test_quiet_hours_defer_the_welcome_to_nine_local_time(
    lifecycle: ServiceProcess, ingest_client: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    customer, _ = await _new_contact(ingest_client, client, zone=zone_where_it_is(3))
    await ingest_client.post("/v1/events", json=purchase(customer))
    by_step = await _messages_when(client, customer, lambda m: "welcome" in m)
    welcome = by_step["welcome"]
    assert (welcome["status"], welcome["reason"]) == ("scheduled", "quiet_hours")
    due = datetime.fromisoformat(welcome["due_at"])
    assert timedelta(hours=4) < due - datetime.now(UTC) < timedelta(hours=7)
    assert due.minute == 0


async def test_the_frequency_cap_suppresses_the_fourth_email_in_a_day(
    ingest_client: httpx.AsyncClient, client: httpx.AsyncClient, mailbox: Any
) -> None:
    customer, email = await _new_contact(ingest_client, client)
    for n in range(4):  # one after the other, so the order of the tickets is known
        await ingest_client.post("/v1/events", json=complaint(customer, ticket_id=f"T-{n}"))

        async def delivered(n: int = n) -> bool:
            return len(_inbox(mailbox).to(email)) >= n + 1 or n == 3

        await eventually(delivered, timeout=60, what=f"acknowledgement {n}")

    async def four_decided() -> list[dict[str, Any]] | None:
        items = (await client.get(f"/v1/customers/{customer}/messages")).json()["items"]
        done = [m for m in items if m["status"] in ("sent", "suppressed")]
        return items if len(done) == 4 else None

    items = await eventually(four_decided, timeout=60, what="four acknowledgements decided")
    statuses = sorted((m["status"], m["reason"]) for m in items)
    assert statuses == [("sent", "delivered")] * 3 + [("suppressed", "frequency_cap:email:3/24h")]
    assert len(_inbox(mailbox).to(email)) == 3
    assert "T-0" in _inbox(mailbox).to(email)[0]["Subject"]


async def test_a_duplicated_lifecycle_change_sends_one_email(
    infra: Infrastructure,
    ingest_client: httpx.AsyncClient,
    client: httpx.AsyncClient,
    mailbox: Any,
) -> None:
    customer, email = await _new_contact(ingest_client, client)
    transition = str(uuid.uuid4())
    entered = dict(from_stage="acquisition", to_stage="development")
    await _publish_change(
        infra.kafka_bootstrap,
        [_change(customer, "stage", transition=transition, **entered)] * 3
        # the same change re-emitted under another CloudEvent id is still the same occurrence
        + [_change(customer, "stage", transition=transition, ce_id=str(uuid.uuid4()), **entered)],
    )
    await _messages_when(client, customer, _status("welcome", "sent"))
    sentinel, sentinel_email = await _new_contact(ingest_client, client)
    await _publish_change(infra.kafka_bootstrap, [_change(sentinel, "stage", **entered)])
    await eventually(
        lambda: _async(_inbox(mailbox).to(sentinel_email)), timeout=60, what="sentinel email"
    )
    assert len(_inbox(mailbox).to(email)) == 1


async def test_churn_win_back_carries_a_coupon_and_a_purchase_cancels_the_follow_up(
    infra: Infrastructure,
    ingest_client: httpx.AsyncClient,
    client: httpx.AsyncClient,
    mailbox: Any,
) -> None:
    customer, email = await _new_contact(ingest_client, client, locale="zh-CN")
    churned = dict(from_stage="maintenance", to_stage="churn")
    await _publish_change(infra.kafka_bootstrap, [_change(customer, "stage", **churned)])
    by_step = await _messages_when(client, customer, _status("win_back_offer", "sent"))
    coupon = by_step["win_back_offer"]["coupon"]
    assert coupon and coupon.startswith("WB-")
    [mail] = _inbox(mailbox).to(email)
    assert coupon in text_of(mail)
    assert mail["Content-Language"] == "zh-CN"
    assert by_step["win_back_follow_up"]["status"] == "scheduled"
    await ingest_client.post("/v1/events", json=purchase(customer))
    by_step = await _messages_when(client, customer, _status("win_back_follow_up", "cancelled"))
    assert by_step["win_back_follow_up"]["reason"] == "cancelled_by:purchase"


async def test_a_reactivated_customer_is_welcomed_back_and_never_welcomed_as_new_again(
    infra: Infrastructure,
    ingest_client: httpx.AsyncClient,
    client: httpx.AsyncClient,
    mailbox: Any,
) -> None:
    customer, email = await _new_contact(ingest_client, client)
    first = _change(customer, "stage", from_stage="acquisition", to_stage="development")
    await _publish_change(infra.kafka_bootstrap, [first])
    await _messages_when(client, customer, _status("welcome", "sent"))
    churned = _change(customer, "stage", from_stage="development", to_stage="churn")
    back = _change(
        customer, "stage", from_stage="churn", to_stage="development", reason="reactivated"
    )
    # a development entry that is not a reactivation (e.g. re-published after a correction)
    again = _change(customer, "stage", from_stage="acquisition", to_stage="development")
    await _publish_change(infra.kafka_bootstrap, [churned, back, again])

    async def settled() -> list[dict[str, Any]] | None:
        items = (await client.get(f"/v1/customers/{customer}/messages")).json()["items"]
        welcomes = [m for m in items if m["step"] == "welcome"]
        sent_back = [m for m in items if m["step"] == "welcome_back" and m["status"] == "sent"]
        return items if len(welcomes) >= 2 and sent_back else None

    items = await eventually(settled, timeout=60, what="the welcome back")
    welcomes = {m["status"]: m["reason"] for m in items if m["step"] == "welcome"}
    assert sorted(welcomes) == ["sent", "suppressed"]
    assert welcomes["suppressed"] == "once_per_customer"
    subjects = sorted(m["Subject"] for m in _inbox(mailbox).to(email))
    assert subjects.count("Welcome, Ann!") == 1
    assert "Welcome back, Ann!" in subjects


async def test_a_correction_of_a_churn_cancels_the_pending_win_back(
    infra: Infrastructure, ingest_client: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    customer, _ = await _new_contact(ingest_client, client)
    churn = _change(customer, "stage", from_stage="maintenance", to_stage="churn")
    await _publish_change(infra.kafka_bootstrap, [churn])
    await _messages_when(client, customer, _status("win_back_offer", "sent"))
    correction = _change(
        customer, "stage", from_stage="churn", to_stage="maintenance", retracts=churn.id
    )
    await _publish_change(infra.kafka_bootstrap, [correction])
    by_step = await _messages_when(client, customer, _status("win_back_follow_up", "cancelled"))
    assert by_step["win_back_follow_up"]["reason"] == "trigger_retracted"


async def test_an_at_risk_tier_a_customer_gets_a_signed_task_for_a_person(
    infra: Infrastructure,
    ingest_client: httpx.AsyncClient,
    client: httpx.AsyncClient,
    receiver: Receiver,
    mailbox: Any,
) -> None:
    customer, email = await _new_contact(ingest_client, client, name="Li Lei")
    await _publish_change(
        infra.kafka_bootstrap,
        [
            _change(customer, "tier", from_tier="B", to_tier="A"),
            _change(customer, "flag", flag="at_risk", flag_value=True),
        ],
    )

    # entering tier A also introduces an account manager (became_high_value)
    def at_risk_tasks() -> list[dict[str, Any]]:
        return [t for t in receiver.tasks_for(customer) if t["playbook"] == "at_risk"]

    await eventually(lambda: _async(at_risk_tasks()), timeout=60, what="the task webhook")
    [task] = at_risk_tasks()
    assert task["playbook"] == "at_risk" and task["step"] == "account_manager_visit"
    assert task["customer"]["tier"] == "A"
    assert "Li Lei" in task["title"]
    assert receiver.rejected == []
    by_step = await _messages_when(client, customer, _status("account_manager_visit", "sent"))
    assert "care_message" not in by_step
    assert _inbox(mailbox).to(email) == []


async def test_bounces_fail_with_the_providers_answer_and_deferrals_are_retried(
    ingest_client: httpx.AsyncClient, client: httpx.AsyncClient, mailbox: Any
) -> None:
    bounced, _ = await _new_contact(ingest_client, client, prefix="bounce")
    flaky, flaky_email = await _new_contact(ingest_client, client, prefix="flaky")
    for customer in (bounced, flaky):
        await ingest_client.post("/v1/events", json=complaint(customer, ticket_id="T-9"))
    failed = await _messages_when(client, bounced, _status("acknowledgement", "failed"))
    assert "550" in failed["acknowledgement"]["reason"]
    assert "permanent" in failed["acknowledgement"]["reason"]
    retried = await _messages_when(client, flaky, _status("acknowledgement", "sent"))
    assert retried["acknowledgement"]["attempts"] == 2
    assert [h["status"] for h in retried["acknowledgement"]["history"]] == [
        "scheduled", "sending", "scheduled", "sending", "sent",
    ]  # fmt: skip
    assert len(_inbox(mailbox).to(flaky_email)) == 1


async def _publish_scores(bootstrap: str, customer: str, **scores: float) -> None:
    now = datetime.now(UTC)
    event = CloudEvent(
        id=uuid.uuid4().hex,
        source="/clm/scoring",
        type="clm.scoring.scores_updated",
        subject=customer,
        time=now,
        data={"customer_id": customer, **scores},
        dataschema="urn:clm:schema:customer-scores:v1",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        r = to_kafka(CUSTOMER_SCORES, event)
        await producer.send_and_wait(r.topic, r.value, key=r.key, headers=r.headers)
    finally:
        await producer.stop()


async def test_entering_tier_a_starts_a_task_and_the_clv_sets_the_band_in_templates(
    infra: Infrastructure,
    ingest_client: httpx.AsyncClient,
    client: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    customer, _ = await _new_contact(ingest_client, client)
    scored, _ = await _new_contact(ingest_client, client)
    # An absolute CLV figure no longer calls a person (issue 16.1): 8,022 tasks in the demo.
    # Even a CLV in band high: only entering tier A starts the playbook.
    high = {"clv": 6_000_000.5, "churn_risk": 0.1, "p_alive": 0.9}
    await _publish_scores(infra.kafka_bootstrap, scored, **high)
    await _publish_scores(infra.kafka_bootstrap, customer, **high)
    await clv_band_shown(client, customer, "high")  # before the tier moves
    await _publish_change(
        infra.kafka_bootstrap, [_change(customer, "tier", from_tier="B", to_tier="A")]
    )
    await eventually(
        lambda: _async(receiver.tasks_for(customer)), timeout=60, what="the high-value task"
    )
    [task] = receiver.tasks_for(customer)
    assert task["step"] == "introduce_account_manager"
    assert "CLV band high" in task["body"]
    assert receiver.tasks_for(scored) == []
    items = (await client.get(f"/v1/customers/{scored}/messages")).json()["items"]
    assert [m for m in items if m["playbook"] == "became_high_value"] == []


async def test_a_birthday_greeting_goes_out_on_the_day_in_the_customers_zone(
    ingest_client: httpx.AsyncClient, client: httpx.AsyncClient, mailbox: Any
) -> None:
    today = datetime.now(ZoneInfo(MIDDAY)).date()
    customer, email = await _new_contact(
        ingest_client, client, birthday=today.replace(year=1992).isoformat()
    )
    by_step = await _messages_when(client, customer, _status("greeting", "sent"))
    assert by_step["greeting"]["occurrence_id"] == f"birthday:{today.year}"
    [mail] = _inbox(mailbox).to(email)
    assert mail["Subject"] == "Happy birthday, Ann!"


async def test_messages_retrying_after_a_failed_attempt_are_listed_as_retrying(
    infra: Infrastructure, client: httpx.AsyncClient
) -> None:
    """The dashboard's retrying count (issue 18, item 8): a message scheduled again after a
    failed attempt is `retrying`; one never tried is only `scheduled`."""
    import asyncpg

    customer = new_customer("retry")
    later = datetime.now(UTC) + timedelta(days=365)  # never due during the test
    ids = {"retrying": str(uuid.uuid4()), "fresh": str(uuid.uuid4())}
    conn = await asyncpg.connect(infra.database_url.replace("+asyncpg", ""))
    try:
        for (name, message), attempts in zip(ids.items(), (2, 0), strict=True):
            await conn.execute(
                "INSERT INTO notify_messages (id, playbook, step, customer_id, occurrence_id,"
                " trigger_kind, trigger_at, channel, template, status, reason, due_at, attempts,"
                " created_at, updated_at) VALUES ($1, 'new_customer', 'welcome', $2, $3,"
                " 'stage', now(), 'email', 'welcome', 'scheduled', $4, $5, $6, now(), now())",
                message, customer, f"occ-{name}", "retrying: 451 try again" if attempts else "x",
                later, attempts,
            )  # fmt: skip
        retrying = await client.get("/v1/messages", params={"status": "retrying", "limit": 1000})
        scheduled = await client.get("/v1/messages", params={"status": "scheduled", "limit": 1000})
        assert retrying.status_code == 200, retrying.text
        listed = {m["id"] for m in retrying.json()["items"]}
        assert ids["retrying"] in listed and ids["fresh"] not in listed
        assert set(ids.values()) <= {m["id"] for m in scheduled.json()["items"]}
    finally:
        await conn.execute("DELETE FROM notify_messages WHERE customer_id = $1", customer)
        await conn.close()


async def test_killed_between_scheduling_and_sending_then_restarted_sends_exactly_once(
    start_service: Callable[..., ServiceProcess],
    notify: ServiceProcess,
    notify_env: dict[str, str],
    lifecycle: ServiceProcess,
    ingest_client: httpx.AsyncClient,
    admin_key: str,
    mailbox: Any,
    receiver: Receiver,
) -> None:
    notify.kill()
    scheduling_only = start_service("notify", **notify_env, CLM_NOTIFY_RUN_SENDER="false")
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=scheduling_only.url, headers=headers) as c:
        customer, email = await _new_contact(ingest_client, c)
        await ingest_client.post("/v1/events", json=purchase(customer))
        await _messages_when(c, customer, _status("welcome", "scheduled"))
    scheduling_only.kill()  # SIGKILL: the welcome is scheduled and due, nothing sent yet
    assert _inbox(mailbox).to(email) == []

    # Two instances now share the schedule; row locks keep them from sending twice.
    first = start_service("notify", **notify_env)
    second = start_service("notify", **notify_env)
    async with httpx.AsyncClient(base_url=first.url, headers=headers) as c:
        await _messages_when(c, customer, _status("welcome", "sent"))
        sentinel, sentinel_email = await _new_contact(ingest_client, c)
        await ingest_client.post("/v1/events", json=complaint(sentinel, ticket_id="S-1"))
        await eventually(
            lambda: _async(_inbox(mailbox).to(sentinel_email)), timeout=60, what="sentinel"
        )
    assert len(_inbox(mailbox).to(email)) == 1
    first.kill()
    second.stop()

    # Three days later (a shifted clock): the usage checklist goes, the call-back waits.
    day3 = start_service("notify", **notify_env, CLM_NOTIFY_CLOCK_OFFSET_SECONDS=str(3 * DAY + 600))
    async with httpx.AsyncClient(base_url=day3.url, headers=headers) as c:
        by_step = await _messages_when(c, customer, _status("usage_checklist", "sent"))
    assert by_step["call_back"]["status"] == "scheduled"
    day3.stop()

    day7 = start_service("notify", **notify_env, CLM_NOTIFY_CLOCK_OFFSET_SECONDS=str(7 * DAY + 600))
    async with httpx.AsyncClient(base_url=day7.url, headers=headers) as c:
        by_step = await _messages_when(c, customer, _status("call_back", "sent"))
    assert by_step["value_report"]["status"] == "scheduled"
    subjects = [m["Subject"] for m in _inbox(mailbox).to(email)]
    assert subjects == ["Welcome, Ann!", "Three things to try this week"]
    assert [t["step"] for t in receiver.tasks_for(customer)] == ["call_back"]
    day7.stop()


async def test_a_tampered_webhook_is_rejected_by_the_receiver(receiver: Receiver) -> None:
    body = b'{"customer_id": "x"}'
    async with httpx.AsyncClient() as c:
        from services.notify.domain.signature import sign

        good = sign(WEBHOOK_SECRET, body)
        resp = await c.post(
            f"{receiver.url}/tasks", content=body + b" ", headers={SIGNATURE_HEADER: good}
        )
    assert resp.status_code == 400
    assert "does not match" in receiver.rejected[-1]


async def test_sms_goes_to_the_http_provider_with_the_documented_payload(
    notify_env: dict[str, str], receiver: Receiver
) -> None:
    from services.notify.adapters.channels import Outgoing
    from services.notify.adapters.sms import HttpSms

    sms = HttpSms(base_url=receiver.url, token="t0k", sender_id="CLM", timeout=5)
    try:
        answer = await sms.send(
            Outgoing("m-1", "c-1", "sms", "+8613800000000", "Hi", "Body", "en", "p", "s")
        )
    finally:
        await sms.close()
    assert answer.startswith("HTTP 202")
    assert receiver.sms[-1] == {
        "to": "+8613800000000", "from": "CLM", "text": "Hi\nBody", "reference": "m-1",
    }  # fmt: skip


def test_clock_helpers_pick_a_midday_zone() -> None:
    local = datetime.now(ZoneInfo(MIDDAY))
    assert 11 <= local.hour <= 13
