"""Audiences end to end: ingest -> lifecycle (and a score update) -> audiences -> entries and
exits on clm.segment-memberships.v1 -> a notify playbook started by a segment entry; counts,
pages and streamed exports; problems for bad definitions. Real services, Kafka and PostgreSQL.
"""

import csv
import io
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer, ConsumerRecord

from services.audiences.adapters.tables import audience_customers
from shared.cloudevents import CloudEvent, from_kafka, to_kafka
from shared.db import make_engine
from shared.erasure import default_secret, record_erasure
from shared.topics import (
    CUSTOMER_EVENTS,
    CUSTOMER_SCORES,
    LIFECYCLE_CHANGES,
    SEGMENT_MEMBERSHIPS,
)
from tests.support.factories import new_customer, profile, purchase
from tests.support.infra import Infrastructure
from tests.support.playbook_files import default_playbooks, write_playbooks
from tests.support.polling import eventually
from tests.support.services import ServiceProcess, service_client
from tests.support.topics import TopicTail, start_group_at_end

RUN = uuid.uuid4().hex[:8]
GROUP = f"clm-audiences-test-{RUN}"
NOTIFY_GROUP = f"clm-notify-audiences-test-{RUN}"
RECENT = f"recent-{RUN}"  # bought within 30 days
STAGED = f"staged-{RUN}"  # has a lifecycle stage
RISKY = f"risky-{RUN}"  # churn risk >= 0.5
PLAYBOOK = f"segment_follow_up_{RUN}"


def _cohort(*more: dict[str, Any]) -> dict[str, Any]:
    return {"all": [{"field": "attributes.cohort", "eq": RUN}, *more]}


@pytest.fixture(scope="module")
async def audiences(
    infra: Infrastructure, start_service: Callable[..., ServiceProcess]
) -> ServiceProcess:
    topics = [LIFECYCLE_CHANGES, CUSTOMER_SCORES, CUSTOMER_EVENTS]
    for suffix, topic in zip(("lifecycle", "scores", "events"), topics, strict=True):
        await start_group_at_end(infra.kafka_bootstrap, f"{GROUP}-{suffix}", [topic])
    return start_service(
        "audiences",
        CLM_AUDIENCES_CONSUMER_GROUP=GROUP,
        CLM_AUDIENCES_BUILD_INTERVAL_SECONDS="0.3",
        CLM_AUDIENCES_SWEEP_INTERVAL_SECONDS="1",
    )


@pytest.fixture(scope="module")
def lifecycle(start_service: Callable[..., ServiceProcess]) -> ServiceProcess:
    return start_service("lifecycle")


@pytest.fixture(scope="module")
async def notify(
    infra: Infrastructure,
    start_service: Callable[..., ServiceProcess],
    tmp_path_factory: pytest.TempPathFactory,
) -> ServiceProcess:
    raw = default_playbooks()
    raw["playbooks"].append(
        {
            "name": PLAYBOOK,
            "description": "A staff task when a customer enters the test's recent buyers.",
            "trigger": {"kind": "segment_entered", "segment": RECENT},
            "steps": [{"name": "call", "channel": "webhook", "template": "call_back_task"}],
        }
    )
    path = write_playbooks(raw, tmp_path_factory, "audiences")
    for suffix, topic in (
        ("lifecycle", LIFECYCLE_CHANGES),
        ("events", CUSTOMER_EVENTS),
        ("scores", CUSTOMER_SCORES),
        ("segments", SEGMENT_MEMBERSHIPS),
    ):
        await start_group_at_end(infra.kafka_bootstrap, f"{NOTIFY_GROUP}-{suffix}", [topic])
    return start_service(
        "notify",
        CLM_NOTIFY_CONSUMER_GROUP=NOTIFY_GROUP,
        CLM_NOTIFY_PLAYBOOKS_PATH=str(path),
        CLM_NOTIFY_RUN_SENDER="false",  # the decision is what this test reads
        CLM_NOTIFY_RUN_CALENDAR="false",
    )


@pytest.fixture
async def client(audiences: ServiceProcess, admin_key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client(audiences, admin_key, timeout=60) as c:
        yield c


def _membership(record: ConsumerRecord) -> tuple[str, str, str, str]:  # type: ignore[type-arg]
    ce = from_kafka(record.value, record.headers)
    d = ce.data
    assert record.key == d["customer_id"].encode() == ce.subject.encode()
    assert ce.type == f"clm.audiences.segment_{d['change']}"
    return d["segment"], d["customer_id"], d["change"], d["reason"]


async def _create(client: httpx.AsyncClient, name: str, filter_: dict[str, Any]) -> None:
    resp = await client.post("/v1/segments", json={"name": name, "filter": filter_})
    assert resp.status_code == 201, resp.text
    assert resp.json()["status"] == "building"

    async def built() -> bool:
        resp = await client.get(f"/v1/segments/{name}")
        return bool(resp.json()["status"] == "current")

    await eventually(built, timeout=30, what=f"{name} built")


async def _publish_score(bootstrap: str, customer: str, churn_risk: float, at: datetime) -> None:
    event = CloudEvent(
        id=str(uuid.uuid4()),
        source="/clm/scoring",
        type="clm.scoring.scores_updated",
        subject=customer,
        time=at,
        data={
            "customer_id": customer, "model_id": "m-test", "p_alive": 1 - churn_risk,
            "churn_risk": churn_risk, "expected_purchases": 1.0, "expected_avg_spend": 100.0,
            "clv": 1000.0, "segment": "loyal", "health_score": 50.0, "horizon": 90.0,
            "time_unit": "day", "scored_at": at.isoformat(), "cause": "test",
        },
    )  # fmt: skip
    record = to_kafka(CUSTOMER_SCORES, event)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            record.topic, record.value, key=record.key, headers=record.headers
        )
    finally:
        await producer.stop()


async def test_memberships_follow_customers_and_time_and_start_a_playbook(
    client: httpx.AsyncClient,
    ingest_client: httpx.AsyncClient,
    lifecycle: ServiceProcess,
    notify: ServiceProcess,
    infra: Infrastructure,
    admin_key: str,
) -> None:
    await _create(client, RECENT, _cohort({"field": "last_purchase_at", "within_days": 30}))
    await _create(client, STAGED, _cohort({"field": "stage", "exists": True}))
    await _create(client, RISKY, _cohort({"field": "churn_risk", "gte": 0.5}))
    ours = {RECENT, STAGED, RISKY}
    a, b = new_customer("aud"), new_customer("aud")
    now = datetime.now(UTC)
    # a's purchase leaves the 30-day window about 40 s from now: time alone makes a exit
    leaves_at = now - timedelta(days=30) + timedelta(seconds=40)
    async with TopicTail(infra.kafka_bootstrap, SEGMENT_MEMBERSHIPS) as tail:
        events = [
            profile(a, now - timedelta(days=60), locale="en", attributes={"cohort": RUN}),
            profile(b, now - timedelta(days=60), locale="zh-CN", attributes={"cohort": RUN}),
            purchase(a, leaves_at),
            purchase(b, now - timedelta(days=45)),
        ]
        resp = await ingest_client.post("/v1/events/batch", json={"events": events})
        assert resp.status_code == 202, resp.text

        def seen(*wanted: tuple[str, str, str]) -> Callable[[list[Any]], bool]:
            return lambda kept: set(wanted) <= {_membership(r)[:3] for r in kept}

        def keep(r: Any) -> bool:
            return _membership(r)[0] in ours

        await tail.collect(
            keep,
            seen((RECENT, a, "entered"), (STAGED, a, "entered"), (STAGED, b, "entered")),
            timeout=60,
        )
        # scores: a enters the risky segment, and leaves it when a later score is low
        await _publish_score(infra.kafka_bootstrap, a, 0.8, now)
        await _publish_score(infra.kafka_bootstrap, a, 0.1, now + timedelta(seconds=1))
        kept = await tail.collect(
            keep,
            seen((RISKY, a, "entered"), (RISKY, a, "exited"), (RECENT, a, "exited")),
            timeout=90,
        )
        changes = [_membership(r) for r in kept]
        assert (RECENT, a, "exited", "time_passed") in changes
        assert (RISKY, a, "exited", "customer_changed") in changes
        assert not any(seg == RECENT and c == b for seg, c, *_ in changes)  # b bought too long ago
        assert len(changes) == len(set(changes)), "each change is published once"

        # pages, counts and the two export formats
        page = (await client.get(f"/v1/segments/{STAGED}/members", params={"limit": 1})).json()
        assert len(page["items"]) == 1 and page["next_cursor"] == min(a, b)
        rest = await client.get(
            f"/v1/segments/{STAGED}/members", params={"limit": 1, "cursor": page["next_cursor"]}
        )
        assert [m["customer_id"] for m in rest.json()["items"]] == [max(a, b)]
        assert rest.json()["next_cursor"] is None
        count = await client.post("/v1/segments/count", json={"filter": _cohort()})
        assert count.json() == {"count": 2}
        ndjson = await client.get(f"/v1/segments/{STAGED}/export")
        assert ndjson.headers["content-type"].startswith("application/x-ndjson")
        rows = [orjson.loads(line) for line in ndjson.content.splitlines()]
        assert [r["customer_id"] for r in rows] == sorted([a, b])
        assert {r["locale"] for r in rows} == {"en", "zh-CN"} and all(r["stage"] for r in rows)
        exported = await client.get(f"/v1/segments/{STAGED}/export", params={"format": "csv"})
        table = list(csv.DictReader(io.StringIO(exported.text)))
        assert [r["customer_id"] for r in table] == sorted([a, b])
        assert (await client.get(f"/v1/segments/{STAGED}")).json()["members"] == 2

        # the entry into RECENT started the playbook in notify
        headers = {"Authorization": f"Bearer {admin_key}"}
        async with httpx.AsyncClient(base_url=notify.url, headers=headers, timeout=30) as n:

            async def started() -> list[dict[str, Any]] | None:
                items = (await n.get(f"/v1/customers/{a}/messages")).json()["items"]
                return [m for m in items if m["playbook"] == PLAYBOOK] or None

            [message] = await eventually(started, timeout=60, what="the segment's playbook")
            assert message["trigger_kind"] == "segment_entered"

        # deleting a segment: every member exits, published
        assert (await client.delete(f"/v1/segments/{STAGED}")).status_code == 204
        kept = await tail.collect(
            keep, seen((STAGED, a, "exited"), (STAGED, b, "exited")), timeout=30
        )
        assert (STAGED, b, "exited", "segment_deleted") in [_membership(r) for r in kept]
        assert (await client.get(f"/v1/segments/{STAGED}")).status_code == 404
        for name in (RECENT, RISKY):  # later tests' batches need not evaluate them
            assert (await client.delete(f"/v1/segments/{name}")).status_code == 204


async def test_bad_definitions_are_problems_naming_the_field(
    client: httpx.AsyncClient, key_factory: Callable[[list[str]], str]
) -> None:
    bad = {
        "name": f"bad-{RUN}",
        "filter": {"all": [{"field": "stage", "eq": "gone"}, {"field": "clv", "between": [2, 1]}]},
    }
    resp = await client.post("/v1/segments", json=bad)
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in resp.json()["errors"]} == {
        "body.filter.all.0.eq",
        "body.filter.all.1.between",
    }
    resp = await client.post("/v1/segments", json={"name": "Bad Name", "filter": _cohort()})
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "body.name"
    name = f"dup-{RUN}"
    assert (
        await client.post("/v1/segments", json={"name": name, "filter": _cohort()})
    ).status_code == 201
    again = await client.post("/v1/segments", json={"name": name, "filter": _cohort()})
    assert again.status_code == 409
    assert (await client.get(f"/v1/segments/none-{RUN}/members")).status_code == 404
    assert (await client.get(f"/v1/segments/none-{RUN}/export")).status_code == 404
    reader_only = {"Authorization": f"Bearer {key_factory(['segments:read'])}"}
    resp = await client.post("/v1/segments", json=bad, headers=reader_only)
    assert resp.status_code == 403
    other = {"Authorization": f"Bearer {key_factory(['customers:read'])}"}
    assert (await client.get("/v1/segments", headers=other)).status_code == 403
    assert (await client.delete(f"/v1/segments/{name}")).status_code == 204


async def test_a_redelivered_score_enters_once_and_poison_goes_to_the_dlq(
    client: httpx.AsyncClient, ingest_client: httpx.AsyncClient, infra: Infrastructure
) -> None:
    name = f"redelivered-{RUN}"
    await _create(client, name, _cohort({"field": "churn_risk", "gte": 0.5}))
    customer = new_customer("aud")
    event = profile(customer, datetime.now(UTC), attributes={"cohort": RUN})
    assert (await ingest_client.post("/v1/events", json=event)).status_code == 202
    at = datetime.now(UTC)
    score = CloudEvent(
        id=str(uuid.uuid4()), source="/clm/scoring", type="clm.scoring.scores_updated",
        subject=customer, time=at,
        data={"customer_id": customer, "churn_risk": 0.9, "scored_at": at.isoformat()},
    )  # fmt: skip
    record = to_kafka(CUSTOMER_SCORES, score)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    async with (
        TopicTail(infra.kafka_bootstrap, SEGMENT_MEMBERSHIPS) as tail,
        TopicTail(infra.kafka_bootstrap, f"{CUSTOMER_SCORES}.dlq") as dead,
    ):
        try:

            async def has_profile() -> bool:  # the score must find the cohort attribute
                count = await client.post("/v1/segments/count", json={"filter": _cohort()})
                return bool(count.json()["count"] >= 1)

            await eventually(has_profile, timeout=60, what="the profile in the view")
            for _ in range(2):  # the same update delivered twice
                await producer.send_and_wait(
                    record.topic, record.value, key=record.key, headers=record.headers
                )
            await producer.send_and_wait(
                CUSTOMER_SCORES, b"not json", key=customer.encode(),
                headers=[("ce_specversion", b"1.0"), ("ce_id", b"x"), ("ce_source", b"t"),
                         ("ce_type", b"clm.scoring.scores_updated")],
            )  # fmt: skip
        finally:
            await producer.stop()
        ours = await tail.collect(
            lambda r: _membership(r)[0] == name, lambda kept: len(kept) >= 1, timeout=60
        )
        group = f"{GROUP}-scores".encode()  # lifecycle, if running, dead-letters it too
        [poison] = await dead.collect(
            lambda r: r.key == customer.encode() and dict(r.headers)["dlq_group"] == group,
            lambda kept: len(kept) >= 1,
            timeout=60,
        )
        assert dict(poison.headers)["dlq_origin"].startswith(CUSTOMER_SCORES.encode())
        # the duplicate and the poison record are behind us: still one entry
        more = await tail.collect(lambda r: _membership(r)[0] == name, lambda kept: True)
        assert [_membership(r)[1:3] for r in [*ours, *more][:1]] == [(customer, "entered")]
        assert len({r.offset for r in [*ours, *more]}) == 1
    info = (await client.get(f"/v1/segments/{name}")).json()
    assert info["members"] == 1
    assert (await client.delete(f"/v1/segments/{name}")).status_code == 204


async def test_an_erased_customer_is_forgotten_with_its_memberships(
    client: httpx.AsyncClient, ingest_client: httpx.AsyncClient, infra: Infrastructure
) -> None:
    name = f"erased-{RUN}"
    await _create(client, name, _cohort())
    customer = new_customer("aud")
    event = profile(customer, datetime.now(UTC), locale="de-DE", attributes={"cohort": RUN})
    assert (await ingest_client.post("/v1/events", json=event)).status_code == 202

    async def member() -> bool:  # the run's other customers are members too
        page = (await client.get(f"/v1/segments/{name}/members", params={"limit": 1000})).json()
        return customer in {m["customer_id"] for m in page["items"]}

    await eventually(member, timeout=60, what="the customer in the segment")
    engine = make_engine(infra.database_url, 1)
    try:
        # The sweep's backstop: an erasure whose tombstone audiences never reads (the tombstone
        # itself: tests/integration/test_erasure.py).
        async with engine.begin() as conn:  # what lifecycle's erasure records
            await record_erasure(conn, default_secret(), customer)

        async def forgotten() -> bool:
            async with engine.connect() as conn:
                left = await conn.scalar(
                    sa.select(sa.func.count()).where(audience_customers.c.customer_id == customer)
                )
            return left == 0 and not await member()

        await eventually(forgotten, timeout=60, what="the erased customer forgotten")
    finally:
        await engine.dispose()
    assert (await client.delete(f"/v1/segments/{name}")).status_code == 204
