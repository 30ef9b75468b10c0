"""Control groups end to end: ingest -> lifecycle -> notify on the real Kafka and PostgreSQL.

First purchases make lifecycle publish the entry into development; notify's new_customer
playbook (held-out share 0.5 in this test's playbooks file, a salt of its own) holds out the
customers the pure hash puts in control: their decisions are stored and published as
suppressed, reason control_group. Later purchases and an opt-out reach notify on the topics and
its API, and GET /v1/playbooks/new_customer/impact compares the arms.
"""

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from services.notify.domain.holdout import CONTROL_GROUP, Arm, assign
from shared.topics import CUSTOMER_EVENTS, CUSTOMER_SCORES, LIFECYCLE_CHANGES, NOTIFICATIONS
from tests.integration.test_notify import _change, _publish_change, zone_where_it_is
from tests.support.factories import new_customer, profile, purchase
from tests.support.infra import Infrastructure
from tests.support.mailbox import smtp_server
from tests.support.notify_probes import profile_merged
from tests.support.playbook_files import default_playbooks, write_playbooks
from tests.support.polling import eventually
from tests.support.services import ServiceProcess, service_client
from tests.support.topics import TopicTail, start_group_at_end

GROUP = f"clm-notify-impact-{uuid.uuid4().hex[:8]}"
SALT = f"impact-test-{uuid.uuid4().hex}"
PLAYBOOK = "new_customer"
REPEATABLE = "churned"
MIDDAY = zone_where_it_is(12)
PER_ARM = 4
STEPS = ("welcome", "usage_checklist", "call_back", "value_report")


@pytest.fixture(scope="module")
def mailbox() -> Any:
    with smtp_server() as running:
        yield running


@pytest.fixture(scope="module")
def playbooks(tmp_path_factory: pytest.TempPathFactory) -> str:
    raw = default_playbooks()
    raw["policy"]["control_salt"] = SALT
    for playbook in raw["playbooks"]:
        if playbook["name"] in (PLAYBOOK, REPEATABLE):
            playbook["control_group"] = 0.5
    path = write_playbooks(raw, tmp_path_factory, "impact")
    return str(path)


@pytest.fixture(scope="module")
async def notify(
    infra: Infrastructure,
    start_service: Callable[..., ServiceProcess],
    mailbox: Any,
    playbooks: str,
) -> ServiceProcess:
    for suffix, topic in (
        ("lifecycle", LIFECYCLE_CHANGES),
        ("events", CUSTOMER_EVENTS),
        ("scores", CUSTOMER_SCORES),
    ):
        await start_group_at_end(infra.kafka_bootstrap, f"{GROUP}-{suffix}", [topic])
    controller, _ = mailbox
    return start_service(
        "notify",
        CLM_NOTIFY_CONSUMER_GROUP=GROUP,
        CLM_NOTIFY_PLAYBOOKS_PATH=playbooks,
        CLM_NOTIFY_SMTP_PORT=str(controller.port),
        CLM_NOTIFY_SENDER_INTERVAL_SECONDS="0.2",
        CLM_NOTIFY_CHANNEL_COSTS='{"email": 0.5, "webhook": 30}',
    )


@pytest.fixture(scope="module")
def lifecycle(start_service: Callable[..., ServiceProcess]) -> ServiceProcess:
    return start_service("lifecycle")


@pytest.fixture
async def client(notify: ServiceProcess, admin_key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client(notify, admin_key) as c:
        yield c


def _customers(playbook: str = PLAYBOOK) -> dict[Arm, list[str]]:
    """PER_ARM customers in each arm, as the pure hash assigns them (the service must agree)."""
    found: dict[Arm, list[str]] = {Arm.TREATMENT: [], Arm.CONTROL: []}
    while min(len(v) for v in found.values()) < PER_ARM:
        customer = new_customer("imp")
        arm = found[assign(customer, playbook, 0.5, 0.0, SALT)]
        if len(arm) < PER_ARM:
            arm.append(customer)
    return found


async def _messages(
    client: httpx.AsyncClient, customer: str, playbook: str = PLAYBOOK
) -> list[dict[str, Any]]:
    resp = await client.get(f"/v1/customers/{customer}/messages")
    assert resp.status_code == 200, resp.text
    return [m for m in resp.json()["items"] if m["playbook"] == playbook]


@pytest.mark.timeout(300)
async def test_held_out_customers_are_suppressed_published_and_measured(
    infra: Infrastructure,
    lifecycle: ServiceProcess,
    ingest_client: httpx.AsyncClient,
    client: httpx.AsyncClient,
) -> None:
    since = datetime.now(UTC)  # the impact counts this test's triggers only (event time)
    arms = _customers()
    everyone = arms[Arm.TREATMENT] + arms[Arm.CONTROL]
    consent = {"email": True}
    start = since + timedelta(seconds=1)
    for customer in everyone:
        fields = {"name": "Ann", "email": f"{customer}@example.com", "timezone": MIDDAY}
        resp = await ingest_client.post(
            "/v1/events", json=profile(customer, start, **fields, consent=consent)
        )
        assert resp.status_code == 202, resp.text
    for customer in everyone:
        await profile_merged(client, customer, consent)

    async with TopicTail(infra.kafka_bootstrap, NOTIFICATIONS) as tail:
        first = [purchase(c, start + timedelta(seconds=1), amount="10.00") for c in everyone]
        resp = await ingest_client.post("/v1/events/batch", json={"events": first})
        assert resp.status_code == 202, resp.text

        async def decided() -> dict[str, list[dict[str, Any]]] | None:
            found = {c: await _messages(client, c) for c in everyone}
            done = all(len(m) == len(STEPS) for m in found.values())
            welcomed = all(
                any(m["step"] == "welcome" and m["status"] == "sent" for m in found[c])
                for c in arms[Arm.TREATMENT]
            )
            return found if done and welcomed else None

        stored = await eventually(decided, timeout=90, what="every new customer's decisions")
        held = [
            r
            for r in await tail.collect(
                lambda r: r.key.decode() in arms[Arm.CONTROL],
                until=lambda kept: len(kept) >= PER_ARM * len(STEPS),
            )
        ]
    for customer in arms[Arm.CONTROL]:  # every step held out, with the reason
        assert {(m["status"], m["reason"]) for m in stored[customer]} == {
            ("suppressed", CONTROL_GROUP)
        }
    for customer in arms[Arm.TREATMENT]:
        assert CONTROL_GROUP not in {m["reason"] for m in stored[customer]}
    published = [orjson.loads(r.value) for r in held]
    assert {(d["status"], d["reason"], d["playbook"]) for d in published} == {
        ("suppressed", CONTROL_GROUP, PLAYBOOK)
    }
    assert {d["step"] for d in published} == set(STEPS)
    assert {dict(r.headers)["ce_type"] for r in held} == {b"clm.notify.message_suppressed"}
    # the message keeps its fields: a consumer reading the old ones still can
    assert {"message_id", "customer_id", "channel", "occurrence_id", "due_at"} <= set(published[0])

    # Outcomes after the trigger: purchases by 3 treated customers and 1 held out (CNY, the
    # reporting currency), an opt-out of one treated customer.
    later = datetime.now(UTC)
    buyers = {arms[Arm.TREATMENT][0]: "40.00", arms[Arm.TREATMENT][1]: "60.00"}
    buyers |= {arms[Arm.TREATMENT][2]: "20.00", arms[Arm.CONTROL][0]: "30.00"}
    events = [purchase(c, later, amount=a) for c, a in buyers.items()]
    resp = await ingest_client.post("/v1/events/batch", json={"events": events})
    assert resp.status_code == 202, resp.text
    opted = await client.put(
        f"/v1/customers/{arms[Arm.TREATMENT][3]}/preferences", json={"email": False}
    )
    assert opted.status_code == 200, opted.text

    async def measured() -> dict[str, Any] | None:
        resp = await client.get(
            f"/v1/playbooks/{PLAYBOOK}/impact", params={"since": since.isoformat()}
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        step = next(s for s in body["steps"] if s["step"] == "welcome")
        return (
            body
            if step["arms"]["treatment"]["revenue_total"] == 120.0
            and step["arms"]["control"]["revenue_total"] == 30.0
            else None
        )

    body = await eventually(measured, timeout=60, what="the purchases in the impact")
    assert body["currency"] == "CNY" and body["confidence_level"] == 0.95
    assert body["window_days"] == 30 and body["control_group"] == 0.5
    welcome = next(s for s in body["steps"] if s["step"] == "welcome")
    treated, control = welcome["arms"]["treatment"], welcome["arms"]["control"]
    assert (treated["eligible"], control["eligible"]) == (PER_ARM, PER_ARM)
    assert (treated["messages_sent"], control["messages_sent"]) == (PER_ARM, 0)
    assert treated["channel_cost"] == pytest.approx(PER_ARM * 0.5)
    assert treated["purchase_rate"] == 0.75 and control["purchase_rate"] == 0.25
    assert treated["opt_out_rate"] == 0.25 and control["opt_out_rate"] == 0.0
    assert treated["revenue_per_customer"] == 30.0 and control["revenue_per_customer"] == 7.5
    assert treated["open_windows"] == PER_ARM  # the 30-day windows are still open
    difference = welcome["difference"]
    assert difference["purchase"]["estimate"] == pytest.approx(0.5)
    assert difference["purchase"]["low"] < 0.5 < difference["purchase"]["high"]
    assert difference["revenue_per_customer"]["estimate"] == pytest.approx(22.5)
    assert welcome["incremental_revenue"] == pytest.approx(22.5 * PER_ARM)
    assert welcome["incremental_revenue_per_message"] == pytest.approx(22.5)
    assert welcome["incremental_revenue_per_cost_unit"] == pytest.approx(22.5 / 0.5)
    overall = body["overall"]["arms"]
    assert (overall["treatment"]["eligible"], overall["control"]["eligible"]) == (PER_ARM, PER_ARM)
    assert overall["treatment"]["purchase_rate"] == 0.75

    # A once-per-customer playbook: a replayed entry is suppressed in both arms alike (held
    # out counts as had), so neither arm gets a second unit.
    held_out, treated_one = arms[Arm.CONTROL][1], arms[Arm.TREATMENT][1]
    entered = {"from_stage": "acquisition", "to_stage": "development"}
    await _publish_change(
        infra.kafka_bootstrap, [_change(c, "stage", **entered) for c in (held_out, treated_one)]
    )

    async def replayed() -> dict[str, list[dict[str, Any]]] | None:
        found = {c: await _messages(client, c) for c in (held_out, treated_one)}
        return found if all(len(m) == 2 * len(STEPS) for m in found.values()) else None

    found = await eventually(replayed, timeout=60, what="the replayed entries decided")
    for customer in (held_out, treated_one):
        reasons = [m["reason"] for m in found[customer]]
        assert reasons.count("once_per_customer") == len(STEPS), reasons


async def test_a_customer_stays_in_its_arm_on_every_trigger(
    infra: Infrastructure,
    ingest_client: httpx.AsyncClient,
    client: httpx.AsyncClient,
) -> None:
    """churned (held-out share 0.5 here, not once per customer): each churn of a customer
    is decided in the arm the pure hash gives, the same every time."""
    arms = _customers(REPEATABLE)
    everyone = arms[Arm.TREATMENT][:2] + arms[Arm.CONTROL][:2]
    churned = {"from_stage": "maintenance", "to_stage": "churn"}
    changes = [_change(c, "stage", **churned) for c in everyone for _ in range(3)]
    await _publish_change(infra.kafka_bootstrap, changes)

    async def decided() -> dict[str, list[dict[str, Any]]] | None:
        found = {c: await _messages(client, c, REPEATABLE) for c in everyone}
        # three occurrences of two steps (win_back_call is for tiers A and B)
        return found if all(len(m) == 6 for m in found.values()) else None

    found = await eventually(decided, timeout=60, what="three churns of each customer decided")
    assert len({m["occurrence_id"] for m in found[everyone[0]]}) == 3
    for customer in arms[Arm.CONTROL][:2]:
        assert {m["reason"] for m in found[customer]} == {CONTROL_GROUP}
    for customer in arms[Arm.TREATMENT][:2]:
        assert CONTROL_GROUP not in {m["reason"] for m in found[customer]}


async def test_a_playbook_without_units_answers_empty_arms(client: httpx.AsyncClient) -> None:
    future = (datetime.now(UTC) + timedelta(days=365)).isoformat()
    resp = await client.get(f"/v1/playbooks/{PLAYBOOK}/impact", params={"since": future})
    assert resp.status_code == 200, resp.text
    overall = resp.json()["overall"]
    assert overall["arms"]["treatment"]["eligible"] == overall["arms"]["control"]["eligible"] == 0
    assert overall["arms"]["treatment"]["purchase_rate"] is None
    assert overall["difference"]["purchase"] is None and overall["incremental_revenue"] is None


async def test_bad_requests_are_problems_naming_the_field(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/playbooks/nope/impact")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    for params, field in (
        ({"window_days": "0"}, "window_days"),
        ({"window_days": "many"}, "window_days"),
        ({"since": "2026-01-01T00:00:00"}, "since"),  # no offset
    ):
        bad = await client.get(f"/v1/playbooks/{PLAYBOOK}/impact", params=params)
        assert bad.status_code == 422, (params, bad.text)
        assert bad.headers["content-type"] == "application/problem+json"
        assert field in bad.json()["detail"], bad.json()
    assert (
        await client.get(f"/v1/playbooks/{PLAYBOOK}/impact", headers={"Authorization": ""})
    ).status_code == 401
