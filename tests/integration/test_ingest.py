"""Ingest over HTTP against the real broker: what is accepted is on Kafka, what is refused is not."""

import hashlib
from collections.abc import Callable

import asyncpg
import httpx
import orjson
from aiokafka import ConsumerRecord
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event

from shared.topics import CUSTOMER_EVENTS
from tests.support.factories import new_customer, purchase
from tests.support.infra import Infrastructure
from tests.support.services import ServiceProcess
from tests.support.topics import TopicTail


def _for(customer: str) -> Callable[[ConsumerRecord], bool]:  # type: ignore[type-arg]
    return lambda r: r.key == customer.encode()


def _event_id(record: ConsumerRecord) -> str:  # type: ignore[type-arg]
    return dict(record.headers)["ce_id"].decode()


async def test_single_event_is_on_kafka_as_a_cloudevent_keyed_by_customer(
    infra: Infrastructure, ingest_client: httpx.AsyncClient
) -> None:
    customer = new_customer()
    event = purchase(customer, "2024-03-01T10:15:00+08:00", amount="12.50")
    async with TopicTail(infra.kafka_bootstrap, CUSTOMER_EVENTS) as tail:
        resp = await ingest_client.post("/v1/events", json=event)
        assert resp.status_code == 202, resp.text
        assert resp.json()["event_ids"] == [event["event_id"]]
        [record] = await tail.collect(_for(customer), until=lambda kept: len(kept) >= 1)
    # A foreign consumer, the CloudEvents SDK, reads it.
    parsed = from_binary_event(
        KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
    )
    assert parsed.get_id() == event["event_id"]
    assert parsed.get_subject() == customer
    assert orjson.loads(record.value)["data"]["amount"] == "12.50"


async def test_invalid_batch_names_every_bad_index_and_publishes_nothing(
    infra: Infrastructure, ingest_client: httpx.AsyncClient
) -> None:
    customer = new_customer()
    good = purchase(customer)
    bad_amount = purchase(customer, amount="-5")
    naive_time = purchase(customer, "2024-03-01T10:15:00")
    sentinel = purchase(customer)
    async with TopicTail(infra.kafka_bootstrap, CUSTOMER_EVENTS) as tail:
        resp = await ingest_client.post(
            "/v1/events/batch", json={"events": [good, bad_amount, naive_time]}
        )
        assert resp.status_code == 422
        assert resp.headers["content-type"] == "application/problem+json"
        problem = resp.json()
        assert problem["status"] == 422
        assert {(e["index"], e["field"]) for e in problem["errors"]} == {
            (1, "data.amount"),
            (2, "occurred_at"),
        }
        assert (await ingest_client.post("/v1/events", json=sentinel)).status_code == 202
        kept = await tail.collect(_for(customer), until=lambda k: len(k) >= 1)
    # The first record this customer has on the topic is the sentinel, not the valid batch member.
    assert [_event_id(r) for r in kept] == [sentinel["event_id"]]


async def test_events_of_one_customer_keep_their_order(
    infra: Infrastructure, ingest_client: httpx.AsyncClient
) -> None:
    customer = new_customer()
    batch = [purchase(customer) for _ in range(300)]
    singles = [purchase(customer) for _ in range(20)]
    async with TopicTail(infra.kafka_bootstrap, CUSTOMER_EVENTS) as tail:
        assert (
            await ingest_client.post("/v1/events/batch", json={"events": batch})
        ).status_code == 202
        for event in singles:
            assert (await ingest_client.post("/v1/events", json=event)).status_code == 202
        kept = await tail.collect(_for(customer), until=lambda k: len(k) >= 320)
    assert [_event_id(r) for r in kept] == [e["event_id"] for e in batch + singles]
    assert len({r.partition for r in kept}) == 1


async def test_a_repeated_event_id_is_published_once(
    infra: Infrastructure, ingest_client: httpx.AsyncClient
) -> None:
    customer = new_customer()
    event, sentinel = purchase(customer), purchase(customer)
    async with TopicTail(infra.kafka_bootstrap, CUSTOMER_EVENTS) as tail:
        first = await ingest_client.post("/v1/events", json=event)
        again = await ingest_client.post("/v1/events/batch", json={"events": [event, event]})
        assert first.status_code == again.status_code == 202
        # Whether an id was seen before is not answered: it is known only per worker process.
        assert again.json() == {"accepted": 2, "event_ids": [event["event_id"]] * 2}
        await ingest_client.post("/v1/events", json=sentinel)
        kept = await tail.collect(_for(customer), until=lambda k: len(k) >= 2)
    assert [_event_id(r) for r in kept] == [event["event_id"], sentinel["event_id"]]


async def test_batch_limits_give_413(ingest_client: httpx.AsyncClient) -> None:
    customer = new_customer()
    too_many = {"events": [purchase(customer) for _ in range(1001)]}
    resp = await ingest_client.post("/v1/events/batch", json=too_many)
    assert resp.status_code == 413
    assert "1001" in resp.json()["detail"]
    huge = purchase(customer, data={"category": "x" * 200})
    body = orjson.dumps({"events": [huge] * 1000, "pad": "y" * (5 * 1024 * 1024)})
    resp = await ingest_client.post(
        "/v1/events/batch", content=body, headers={"content-type": "application/json"}
    )
    assert resp.status_code == 413


async def test_non_json_gives_415_and_malformed_json_400(ingest_client: httpx.AsyncClient) -> None:
    resp = await ingest_client.post(
        "/v1/events", content=b"event_id=1", headers={"content-type": "text/plain"}
    )
    assert resp.status_code == 415
    resp = await ingest_client.post(
        "/v1/events", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert resp.status_code == 400
    assert resp.json()["title"] == "Malformed JSON"


async def test_batch_body_shape_is_validated(ingest_client: httpx.AsyncClient) -> None:
    resp = await ingest_client.post("/v1/events/batch", json=[purchase("c")])
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "events"


async def test_keys_and_scopes(
    ingest: ServiceProcess, key_factory: Callable[[list[str]], str]
) -> None:
    event = purchase(new_customer())
    async with httpx.AsyncClient(base_url=ingest.url) as client:
        missing = await client.post("/v1/events", json=event)
        unknown = await client.post(
            "/v1/events", json=event, headers={"Authorization": "Bearer not-a-key"}
        )
        reader = key_factory(["customers:read"])
        forbidden = await client.post(
            "/v1/events", json=event, headers={"Authorization": f"Bearer {reader}"}
        )
        writer = key_factory(["events:write"])
        allowed = await client.post(
            "/v1/events", json=event, headers={"Authorization": f"Bearer {writer}"}
        )
    assert missing.status_code == unknown.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert forbidden.status_code == 403
    assert "events:write" in forbidden.json()["detail"]
    assert allowed.status_code == 202


async def test_keys_are_stored_only_as_digests(
    infra: Infrastructure, key_factory: Callable[[list[str]], str]
) -> None:
    key = key_factory(["events:write"])
    conn = await asyncpg.connect(infra.database_url.replace("+asyncpg", ""))
    try:
        rows = await conn.fetch("SELECT * FROM api_keys")
    finally:
        await conn.close()
    stored = [str(value) for row in rows for value in row.values()]
    assert hashlib.sha256(key.encode()).hexdigest() in stored
    assert not any(key in value for value in stored)


async def test_operational_endpoints(ingest: ServiceProcess) -> None:
    async with httpx.AsyncClient(base_url=ingest.url) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"kafka": True, "database": True}
        metrics = await client.get("/metrics")
        assert "clm_http_request_duration_seconds" in metrics.text
        spec = (await client.get("/openapi.json")).json()
        assert {"/v1/events", "/v1/events/batch"} <= set(spec["paths"])
        assert "CustomerEvent" in spec["components"]["schemas"]
        assert (await client.get("/docs")).status_code == 200
