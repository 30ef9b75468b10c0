"""Lifecycle consumes clm.customer-scores.v1: the churn-risk at-risk rule fires and clears."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from shared.cloudevents import CloudEvent, to_kafka
from shared.customer_event_codec import to_cloudevent
from shared.events import customer_event_adapter
from shared.topics import CUSTOMER_EVENTS, CUSTOMER_SCORES
from tests.support.factories import new_customer, purchase
from tests.support.infra import Infrastructure
from tests.support.polling import eventually
from tests.support.services import ServiceProcess, service_client


@pytest.fixture(scope="module")
def lifecycle(start_service: Callable[..., ServiceProcess]) -> ServiceProcess:
    return start_service("lifecycle")


@pytest.fixture
async def client(lifecycle: ServiceProcess, admin_key: str) -> Any:
    async with service_client(lifecycle, admin_key) as c:
        yield c


def _score(customer: str, churn_risk: float, scored_at: datetime) -> CloudEvent:
    return CloudEvent(
        id=uuid.uuid4().hex,
        source="/clm/scoring",
        type="clm.scoring.scores_updated",
        subject=customer,
        time=scored_at,
        data={
            "customer_id": customer,
            "model_id": "m-test",
            "p_alive": 1 - churn_risk,
            "churn_risk": churn_risk,
            "expected_purchases": 1.0,
            "expected_avg_spend": 100.0,
            "clv": 500.0,
            "segment": "loyal",
            "health_score": 50.0,
            "horizon": 13.0,
            "time_unit": "week",
            "scored_at": scored_at.isoformat(),
            "cause": "test",
        },
        dataschema="urn:clm:schema:customer-scores:v1",
    )


async def _send(bootstrap: str, events: list[CloudEvent], topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            r = to_kafka(topic, event)
            await producer.send_and_wait(r.topic, r.value, key=r.key, headers=r.headers)
    finally:
        await producer.stop()


async def _state_when(
    client: httpx.AsyncClient, customer: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        resp = await client.get(f"/v1/customers/{customer}")
        return dict(resp.json()) if resp.status_code == 200 and done(resp.json()) else None

    return await eventually(probe, timeout=60, what=f"state of {customer}")


async def test_a_high_churn_risk_score_sets_at_risk_and_a_low_one_clears_it(
    infra: Infrastructure, client: httpx.AsyncClient
) -> None:
    customer = new_customer()
    now = datetime.now(UTC)
    purchases = [
        to_cloudevent(
            customer_event_adapter.validate_python(
                purchase(customer, (now - timedelta(days=d)).isoformat())
            )
        )
        for d in (20, 10, 2)
    ]
    await _send(infra.kafka_bootstrap, purchases, CUSTOMER_EVENTS)
    state = await _state_when(client, customer, lambda s: s["stage"] == "maintenance")
    assert state["churn_risk"] is None and "at_risk" not in state["flags"]

    high = _score(customer, 0.85, datetime.now(UTC) - timedelta(seconds=2))
    repeated = high  # the same score delivered twice changes nothing more
    await _send(infra.kafka_bootstrap, [high, repeated], CUSTOMER_SCORES)
    state = await _state_when(client, customer, lambda s: "at_risk" in s["flags"])
    assert state["churn_risk"] == 0.85
    history = (await client.get(f"/v1/customers/{customer}/history")).json()["transitions"]
    flags = [(t["flag"], t["flag_value"], t["reason"]) for t in history if t["kind"] == "flag"]
    assert flags == [("at_risk", True, "churn_risk_score")]
    assert history[-1]["cause_event_id"] == high.id

    low = _score(customer, 0.2, datetime.now(UTC) - timedelta(seconds=1))
    await _send(infra.kafka_bootstrap, [low], CUSTOMER_SCORES)
    state = await _state_when(client, customer, lambda s: "at_risk" not in s["flags"])
    assert state["churn_risk"] == 0.2
    history = (await client.get(f"/v1/customers/{customer}/history")).json()["transitions"]
    flags = [(t["flag"], t["flag_value"], t["reason"]) for t in history if t["kind"] == "flag"]
    assert flags == [
        ("at_risk", True, "churn_risk_score"),
        ("at_risk", False, "churn_risk_lowered"),
    ]


async def test_a_late_older_score_does_not_override_the_newer_one(
    infra: Infrastructure, client: httpx.AsyncClient
) -> None:
    customer = new_customer()
    now = datetime.now(UTC)
    first = to_cloudevent(
        customer_event_adapter.validate_python(
            purchase(customer, (now - timedelta(days=3)).isoformat())
        )
    )
    await _send(infra.kafka_bootstrap, [first], CUSTOMER_EVENTS)
    await _state_when(client, customer, lambda s: s["stage"] == "development")
    newer = _score(customer, 0.1, now - timedelta(minutes=1))
    older = _score(customer, 0.9, now - timedelta(minutes=5))  # arrives after the newer one
    await _send(infra.kafka_bootstrap, [newer], CUSTOMER_SCORES)
    await _state_when(client, customer, lambda s: s["churn_risk"] == 0.1)
    await _send(infra.kafka_bootstrap, [older], CUSTOMER_SCORES)

    async def both_applied() -> list[Any] | None:
        history = (await client.get(f"/v1/customers/{customer}/history")).json()["transitions"]
        flags = [(t["flag_value"], t["reason"]) for t in history if t["kind"] == "flag"]
        return flags if len(flags) == 2 else None

    flags = await eventually(both_applied, timeout=60, what="the older score replayed")
    assert flags == [(True, "churn_risk_score"), (False, "churn_risk_lowered")]
    state = (await client.get(f"/v1/customers/{customer}")).json()
    assert state["churn_risk"] == 0.1 and "at_risk" not in state["flags"]
