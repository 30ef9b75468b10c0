"""Lifecycle service against the real broker and database: events in, state and changes out."""

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from services.lifecycle.domain import CustomerFacts, DomainEvent, apply_all, derive, load_rules
from services.lifecycle.settings import DEFAULT_RULES
from shared.cloudevents import to_kafka
from shared.customer_event_codec import to_cloudevent
from shared.events import customer_event_adapter
from shared.kafka_admin import ensure_topics
from shared.topics import CUSTOMER_EVENTS, LIFECYCLE_CHANGES, TopicSpec, dlq_of
from tests.support.factories import complaint, new_customer, purchase
from tests.support.infra import Infrastructure
from tests.support.polling import eventually
from tests.support.services import ServiceProcess, service_client
from tests.support.topics import TopicTail

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def lifecycle(start_service: Callable[..., ServiceProcess]) -> ServiceProcess:
    return start_service("lifecycle")


@pytest.fixture
async def lifecycle_client(lifecycle: ServiceProcess, admin_key: str) -> Any:
    async with service_client(lifecycle, admin_key) as client:
        yield client


async def _state_when(
    client: httpx.AsyncClient, customer: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        resp = await client.get(f"/v1/customers/{customer}")
        if resp.status_code == 200 and done(resp.json()):
            return dict(resp.json())
        return None

    return await eventually(probe, timeout=60, what=f"state of {customer}")


def _days_ago(n: float) -> str:
    return (NOW - timedelta(days=n)).isoformat()


async def test_purchases_through_ingest_become_stage_changes_on_the_topic(
    infra: Infrastructure, ingest_client: httpx.AsyncClient, lifecycle_client: httpx.AsyncClient
) -> None:
    customer = new_customer()
    events = [purchase(customer, _days_ago(d)) for d in (40, 20, 5)]
    async with TopicTail(infra.kafka_bootstrap, LIFECYCLE_CHANGES) as tail:
        resp = await ingest_client.post("/v1/events/batch", json={"events": events})
        assert resp.status_code == 202
        state = await _state_when(
            lifecycle_client, customer, lambda s: s["purchase_occasions"] == 3
        )
        # Stage changes only: with a fitted model in the session, scoring's churn risk may also
        # move the at_risk flag of this customer (lifecycle consumes the scores).
        changes = await tail.collect(
            lambda r: (
                r.key == customer.encode()
                and dict(r.headers)["ce_type"] == b"clm.lifecycle.stage_changed"
            ),
            until=lambda k: len(k) >= 3,
        )
    assert state["stage"] == "maintenance"
    assert state["total_spend"] == "300.0000"
    data = [orjson.loads(r.value) for r in changes]
    assert [(d["from_stage"], d["to_stage"], d["reason"]) for d in data] == [
        (None, "acquisition", "first_purchase"),
        ("acquisition", "development", "first_purchase"),
        ("development", "maintenance", "repeat_purchases"),
    ]
    assert [d["cause_event_id"] for d in data] == [
        events[0]["event_id"],
        events[0]["event_id"],
        events[2]["event_id"],
    ]
    headers = dict(changes[0].headers)
    assert headers["ce_type"] == b"clm.lifecycle.stage_changed"
    assert headers["ce_subject"] == customer.encode()
    history = (await lifecycle_client.get(f"/v1/customers/{customer}/history")).json()
    assert [t["to_stage"] for t in history["transitions"]] == [
        "acquisition",
        "development",
        "maintenance",
    ]
    metrics = (await lifecycle_client.get("/metrics")).text
    consumed = re.search(
        r'^clm_events_consumed_total\{[^}]*type="clm.customer.purchase"[^}]*\} (\S+)$',
        metrics,
        re.M,
    )
    assert consumed and float(consumed.group(1)) >= 3  # counted by topic, group and event type


async def test_redelivered_events_have_no_second_effect(
    infra: Infrastructure, lifecycle_client: httpx.AsyncClient
) -> None:
    customer = new_customer()
    event = customer_event_adapter.validate_python(purchase(customer, _days_ago(3)))
    sentinel = customer_event_adapter.validate_python(purchase(customer, _days_ago(1)))
    record = to_kafka(CUSTOMER_EVENTS, to_cloudevent(event))
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for _ in range(3):  # the same event id three times, as a retrying producer might
            await producer.send_and_wait(
                record.topic, record.value, key=record.key, headers=record.headers
            )
        last = to_kafka(CUSTOMER_EVENTS, to_cloudevent(sentinel))
        await producer.send_and_wait(last.topic, last.value, key=last.key, headers=last.headers)
    finally:
        await producer.stop()
    state = await _state_when(
        lifecycle_client,
        customer,
        lambda s: (
            s["last_purchase_at"] is not None
            and s["last_purchase_at"].startswith(_days_ago(1)[:10])
        ),
    )
    assert state["purchase_occasions"] == 2
    assert state["total_spend"] == "200.0000"
    history = (await lifecycle_client.get(f"/v1/customers/{customer}/history")).json()
    assert [(t["from_stage"], t["reason"]) for t in history["transitions"]] == [
        (None, "first_purchase"),
        ("acquisition", "first_purchase"),
    ]


async def test_poison_records_go_to_the_dlq_and_the_partition_keeps_moving(
    infra: Infrastructure, lifecycle_client: httpx.AsyncClient
) -> None:
    customer = new_customer()
    good = to_kafka(
        CUSTOMER_EVENTS, to_cloudevent(customer_event_adapter.validate_python(purchase(customer)))
    )
    bad_headers = [(k, v) for k, v in good.headers]
    async with TopicTail(infra.kafka_bootstrap, dlq_of(CUSTOMER_EVENTS)) as dlq:
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                CUSTOMER_EVENTS, b"{not json", key=customer.encode(), headers=bad_headers
            )
            await producer.send_and_wait(good.topic, good.value, key=good.key, headers=good.headers)
        finally:
            await producer.stop()
        # Other consumer groups (scoring, notify) may dead-letter the same record too.
        dead = await dlq.collect(
            lambda r: (
                r.key == customer.encode() and dict(r.headers).get("dlq_group") == b"clm-lifecycle"
            ),
            until=lambda k: len(k) >= 1,
        )
    errors = {k: v.decode() for k, v in dead[0].headers}
    assert "not JSON" in errors["dlq_error"]
    state = await _state_when(lifecycle_client, customer, lambda s: s["purchase_occasions"] == 1)
    assert state["stage"] == "development"


async def test_a_late_purchase_corrects_an_earlier_clock_driven_churn(
    infra: Infrastructure, ingest_client: httpx.AsyncClient, lifecycle_client: httpx.AsyncClient
) -> None:
    customer = new_customer()
    first = purchase(customer, _days_ago(400))
    async with TopicTail(infra.kafka_bootstrap, LIFECYCLE_CHANGES) as tail:
        assert (await ingest_client.post("/v1/events", json=first)).status_code == 202
        churned = await _state_when(lifecycle_client, customer, lambda s: s["stage"] == "churn")
        # Arrives now, but happened before the churn was due: the churn moves later.
        late = purchase(customer, _days_ago(300))
        assert (await ingest_client.post("/v1/events", json=late)).status_code == 202
        await _state_when(lifecycle_client, customer, lambda s: s["purchase_occasions"] == 2)
        kept = await tail.collect(
            lambda r: r.key == customer.encode(),
            until=lambda k: any(
                orjson.loads(r.value)["reason"] == "late_event_correction" for r in k
            ),
        )
    assert churned["stage_since"].startswith(_days_ago(220)[:10])
    history = (await lifecycle_client.get(f"/v1/customers/{customer}/history")).json()[
        "transitions"
    ]
    churns = [t for t in history if t["to_stage"] == "churn" and t["kind"] == "stage"]
    assert [c["occurred_at"][:10] for c in churns] == [_days_ago(120)[:10]]
    correction = next(
        orjson.loads(r.value)
        for r in kept
        if orjson.loads(r.value)["reason"] == "late_event_correction"
    )
    assert correction["from_stage"] == "churn"
    assert correction["cause_event_id"] == late["event_id"]
    ids = [dict(r.headers)["ce_id"] for r in kept]
    assert len(ids) == len(set(ids))


async def test_http_api_lists_filters_counts_and_refuses_bad_input(
    ingest_client: httpx.AsyncClient,
    lifecycle_client: httpx.AsyncClient,
    key_factory: Callable[[list[str]], str],
    lifecycle: ServiceProcess,
) -> None:
    customer = new_customer("zz-list")
    events = [
        purchase(customer, _days_ago(10)),
        complaint(customer, _days_ago(9), ticket_id="a"),
        complaint(customer, _days_ago(8), ticket_id="b"),
    ]
    assert (
        await ingest_client.post("/v1/events/batch", json={"events": events})
    ).status_code == 202
    state = await _state_when(lifecycle_client, customer, lambda s: "at_risk" in s["flags"])
    assert state["stage"] == "development"
    page = (
        await lifecycle_client.get(
            "/v1/customers", params={"flag": "at_risk", "stage": "development", "limit": 1000}
        )
    ).json()
    assert customer in [c["customer_id"] for c in page["items"]]
    assert all(c["stage"] == "development" and "at_risk" in c["flags"] for c in page["items"])
    first = (await lifecycle_client.get("/v1/customers", params={"limit": 1})).json()
    second = (
        await lifecycle_client.get(
            "/v1/customers", params={"limit": 1, "cursor": first["next_cursor"]}
        )
    ).json()
    assert second["items"][0]["customer_id"] > first["items"][0]["customer_id"]
    counts = (await lifecycle_client.get("/v1/stats/stages")).json()
    assert set(counts) == {"acquisition", "development", "maintenance", "churn"}
    assert counts["development"] >= 1
    per_day = (await lifecycle_client.get("/v1/stats/transitions", params={"days": 30})).json()
    assert any(row["to_stage"] == "development" for row in per_day)
    rules = (await lifecycle_client.get("/v1/rules")).json()
    assert rules["stages"]["churn_inactivity_days"] == 180
    missing = await lifecycle_client.get(f"/v1/customers/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    bad = await lifecycle_client.get("/v1/customers", params={"stage": "sleeping"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.stage"
    writer = key_factory(["events:write"])
    async with httpx.AsyncClient(base_url=lifecycle.url) as anon:
        assert (await anon.get("/v1/stats/stages")).status_code == 401
        forbidden = await anon.get(
            "/v1/stats/stages", headers={"Authorization": f"Bearer {writer}"}
        )
        assert forbidden.status_code == 403


def test_a_bad_rules_file_stops_the_service_naming_the_field(
    tmp_path: Path, service_env: dict[str, str]
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("stages:\n  churn_inactivity_days: -3\n")
    proc = ServiceProcess("lifecycle", 0, {**service_env, "CLM_LIFECYCLE_RULES_PATH": str(rules)})
    from tests.support.services import free_port

    proc.port = free_port()
    with pytest.raises(RuntimeError, match="exited"):
        proc.start(timeout=30)
    log = next(Path("test-artifacts/logs").glob(f"lifecycle-{proc.port}.log")).read_text()
    assert "stages.churn_inactivity_days" in log


async def test_two_instances_and_a_sigkill_end_equal_to_a_pure_replay(
    infra: Infrastructure, start_service: Callable[..., ServiceProcess], admin_key: str
) -> None:
    topic = f"test.customer-events.{uuid.uuid4().hex[:8]}"
    await ensure_topics(infra.kafka_bootstrap, 6, [TopicSpec(topic, {})])
    group = f"clm-lifecycle-test-{uuid.uuid4().hex[:8]}"
    env = {
        "CLM_LIFECYCLE_EVENTS_TOPIC": topic,
        "CLM_LIFECYCLE_CONSUMER_GROUP": group,
        "CLM_LIFECYCLE_CONSUMER_MAX_RECORDS": "200",
    }
    feeder = start_service("ingest", CLM_INGEST_TOPIC=topic)
    first, second = start_service("lifecycle", **env), start_service("lifecycle", **env)
    customers = [new_customer("kill") for _ in range(40)]
    events = [
        purchase(c, _days_ago(day), amount=str(10 + day))
        for c in customers
        for day in (300, 200, 150, 100, 60, 30, 29, 5)
    ]
    headers = {"Authorization": f"Bearer {admin_key}"}
    tail = await TopicTail(infra.kafka_bootstrap, LIFECYCLE_CHANGES).__aenter__()
    async with httpx.AsyncClient(base_url=feeder.url, headers=headers, timeout=30) as client:
        for i in range(0, len(events), 40):
            assert (
                await client.post("/v1/events/batch", json={"events": events[i : i + 40]})
            ).status_code == 202
            if i == 120:
                first.kill()  # SIGKILL in the middle of the stream
        restarted = start_service("lifecycle", **env)
    rules = load_rules(DEFAULT_RULES)
    async with httpx.AsyncClient(base_url=restarted.url, headers=headers, timeout=30) as reader:
        for customer in customers:
            state = await _state_when(reader, customer, lambda s: s["purchase_occasions"] == 8)
            mine = [
                DomainEvent(
                    e["event_id"],
                    e["type"],
                    e["customer_id"],
                    datetime.fromisoformat(e["occurred_at"]),
                    e["data"],
                )
                for e in events
                if e["customer_id"] == customer
            ]
            replay = derive(apply_all(CustomerFacts(customer), mine), rules, NOW)
            assert state["stage"] == replay.stage.value
            assert sorted(state["flags"]) == sorted(f.value for f in replay.flags)
            assert state["total_spend"] == f"{replay.total_spend:.4f}"
            history = (await reader.get(f"/v1/customers/{customer}/history")).json()["transitions"]
            assert [t["id"] for t in history] == [t.id for t in replay.history]
    wanted = {c.encode() for c in customers}
    published = await tail.collect(
        lambda r: r.key in wanted, until=lambda k: {r.key for r in k} == wanted
    )
    await tail.__aexit__()
    content_by_id: dict[bytes, set[bytes]] = {}
    for r in published:
        content_by_id.setdefault(dict(r.headers)["ce_id"], set()).add(r.value)
    assert all(len(contents) == 1 for contents in content_by_id.values())
    second.stop()
