"""Money and orders end to end over the real Kafka and PostgreSQL: purchases in three
currencies, an order resent under a new event id and refunds come out of lifecycle and
scoring in the reporting currency, each order counted once."""

import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from shared.topics import CUSTOMER_EVENTS, LIFECYCLE_CHANGES
from tests.support.factories import _event, new_customer, purchase
from tests.support.infra import Infrastructure
from tests.support.polling import eventually
from tests.support.services import ServiceProcess
from tests.support.topics import TopicTail, start_group_at_end

NOW = datetime.now(UTC)
RATES_FROM = (NOW - timedelta(days=90)).date().isoformat()
USD, JPY = Decimal("7.2"), Decimal("0.048")


def _days_ago(n: float) -> str:
    return (NOW - timedelta(days=n)).isoformat()


def refund(customer: str, at: str, order_id: str, **data: Any) -> dict[str, Any]:
    return _event("refund", customer, at, {"order_id": order_id, **data})


# Groups of this module's own, starting at the topic's end (as test_erasure.py does): the
# services of other modules keep their partitions and their metrics.
GROUP = f"clm-money-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
async def lifecycle(
    infra: Infrastructure, start_service: Callable[..., ServiceProcess]
) -> AsyncIterator[ServiceProcess]:
    group = f"{GROUP}-lifecycle"
    await start_group_at_end(infra.kafka_bootstrap, group, [CUSTOMER_EVENTS])
    proc = start_service("lifecycle", ready_within=180, CLM_LIFECYCLE_CONSUMER_GROUP=group)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
async def scoring(
    infra: Infrastructure, start_service: Callable[..., ServiceProcess]
) -> AsyncIterator[ServiceProcess]:
    group = f"{GROUP}-scoring"
    await start_group_at_end(infra.kafka_bootstrap, group, [CUSTOMER_EVENTS])
    proc = start_service(
        "scoring",
        ready_within=180,
        CLM_SCORING_CONSUMER_GROUP=group,
        CLM_SCORING_REFIT_INTERVAL_HOURS="0",
    )
    yield proc
    proc.stop()


async def _client(service: ServiceProcess, key: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=service.url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
async def lifecycle_client(
    lifecycle: ServiceProcess, admin_key: str
) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(lifecycle, admin_key):
        yield client


@pytest.fixture
async def scoring_client(
    scoring: ServiceProcess, admin_key: str
) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(scoring, admin_key):
        yield client


@pytest.fixture
async def rates_loaded(ingest_client: httpx.AsyncClient) -> None:
    resp = await ingest_client.put(
        "/v1/exchange-rates",
        json={
            "reporting_currency": "CNY",
            "rates": [
                {"currency": "USD", "date": RATES_FROM, "rate": str(USD)},
                {"currency": "JPY", "date": RATES_FROM, "rate": str(JPY)},
            ],
        },
    )
    assert resp.status_code == 200, resp.text


async def test_exchange_rates_are_loaded_and_listed_by_an_admin(
    ingest_client: httpx.AsyncClient, rates_loaded: None, key_factory: Callable[..., str]
) -> None:
    resp = await ingest_client.get("/v1/exchange-rates", params={"currency": "USD"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["reporting_currency"] == "CNY"
    assert {"currency": "USD", "date": RATES_FROM, "rate": "7.2"} in body["rates"]
    writer = key_factory(["events:write"])
    async with httpx.AsyncClient(base_url=str(ingest_client.base_url)) as other:
        denied = await other.get(
            "/v1/exchange-rates", headers={"Authorization": f"Bearer {writer}"}
        )
    assert denied.status_code == 403


async def test_rates_to_another_reporting_currency_are_refused(
    ingest_client: httpx.AsyncClient,
) -> None:
    resp = await ingest_client.put(
        "/v1/exchange-rates",
        json={
            "reporting_currency": "EUR",
            "rates": [{"currency": "USD", "date": RATES_FROM, "rate": "0.9"}],
        },
    )
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "reporting_currency"


async def test_an_event_in_a_currency_without_a_rate_is_refused_naming_data_currency(
    ingest_client: httpx.AsyncClient, rates_loaded: None
) -> None:
    customer = new_customer("fx")
    unknown = purchase(customer, _days_ago(1), data={"currency": "CHF"})
    resp = await ingest_client.post("/v1/events", json=unknown)
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in resp.json()["errors"]] == ["data.currency"]

    too_early = purchase(customer, "2010-01-04T10:00:00+00:00", data={"currency": "USD"})
    batch = [purchase(customer, _days_ago(1)), too_early]
    resp = await ingest_client.post("/v1/events/batch", json={"events": batch})
    assert resp.status_code == 422
    assert [(e["index"], e["field"]) for e in resp.json()["errors"]] == [(1, "data.currency")]


async def test_currencies_resent_orders_and_refunds_end_to_end(
    infra: Infrastructure,
    ingest_client: httpx.AsyncClient,
    lifecycle_client: httpx.AsyncClient,
    scoring_client: httpx.AsyncClient,
    rates_loaded: None,
) -> None:
    customer = new_customer("fx")
    in_usd = purchase(customer, _days_ago(40), order_id="A", data={"currency": "USD"})
    in_jpy = purchase(customer, _days_ago(20), order_id="B", data={"currency": "JPY"})
    in_cny = purchase(customer, _days_ago(5), order_id="C")
    resent = purchase(customer, _days_ago(5), order_id="C")  # the same order, a new event id
    first = [in_usd, in_jpy, in_cny, resent]
    await _post(ingest_client, first)

    # 100 USD + 100 JPY + 100 CNY (the resend not counted again) in CNY: 720 + 4.8 + 100.
    state = await _lifecycle_state(
        lifecycle_client, customer, lambda s: s["stage"] == "maintenance"
    )
    assert Decimal(state["total_spend"]) == Decimal("824.8")
    assert state["purchase_occasions"] == 3
    assert state["currency"] == "CNY"

    partial = refund(customer, _days_ago(2), "A", amount="10", currency="USD")
    full = refund(customer, _days_ago(1), "B", reason="returned")
    async with TopicTail(infra.kafka_bootstrap, LIFECYCLE_CHANGES) as tail:
        # The full refund first: whether one batch or two, it is the one that retracts.
        await _post(ingest_client, [full, partial])
        state = await _lifecycle_state(
            lifecycle_client, customer, lambda s: s["purchase_occasions"] == 2
        )
        changes = await tail.collect(
            lambda r: (
                r.key == customer.encode() and orjson.loads(r.value)["reason"] == "order_refunded"
            ),
            until=lambda found: len(found) >= 1,
        )
    # A: 720 - 72 refunded; B refunded in full (no longer an occasion); C: 100.
    assert Decimal(state["total_spend"]) == Decimal("748")
    # Two occasions are not repeat purchasing: the maintenance entry is retracted.
    assert state["stage"] == "development"
    retraction = orjson.loads(changes[0].value)
    assert (retraction["from_stage"], retraction["to_stage"]) == ("maintenance", "development")
    assert retraction["cause_event_id"] == full["event_id"]

    scores = await _scores(scoring_client, customer, lambda s: s["statistics"]["total_spend"] < 800)
    assert scores["currency"] == "CNY"
    assert scores["statistics"]["total_spend"] == pytest.approx(748.0)
    assert scores["statistics"]["purchase_occasions"] == 2
    assert scores["statistics"]["frequency"] == 1
    # Gamma-Gamma's input: the mean of the repeat occasions (C, 100 CNY).
    assert scores["statistics"]["monetary"] == pytest.approx(100.0)


async def _post(client: httpx.AsyncClient, events: list[dict[str, Any]]) -> None:
    """Accepted, retried on 503 as its Retry-After asks (a broker slow to start a transaction)."""

    async def accepted() -> bool | None:
        resp = await client.post("/v1/events/batch", json={"events": events})
        assert resp.status_code in (202, 503), resp.text
        return True if resp.status_code == 202 else None

    await eventually(accepted, timeout=60, interval=1.0, what="events accepted")


async def _lifecycle_state(
    client: httpx.AsyncClient, customer: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        resp = await client.get(f"/v1/customers/{customer}")
        if resp.status_code == 200 and done(resp.json()):
            return dict(resp.json())
        return None

    return await eventually(probe, timeout=90, what=f"lifecycle state of {customer}")


async def _scores(
    client: httpx.AsyncClient, customer: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        resp = await client.get(f"/v1/customers/{customer}/scores")
        if resp.status_code == 200 and done(resp.json()):
            return dict(resp.json())
        return None

    return await eventually(probe, timeout=90, what=f"scores of {customer}")


async def test_clm_rates_load_and_list_through_ingest(
    infra: Infrastructure, ingest: ServiceProcess, admin_key: str, tmp_path: Path
) -> None:
    from tests.integration.test_cli import clm

    env = {
        **os.environ,
        "DATABASE_URL": infra.database_url,
        "CLM_API_KEY": admin_key,
        "CLM_INGEST_URL": ingest.url,
        "COLUMNS": "200",
    }
    rates = tmp_path / "rates.csv"
    rates.write_text(f"currency,date,rate\nHKD,{RATES_FROM},0.92\n")
    loaded = await clm(env, "rates", "load", str(rates))
    assert loaded.code == 0, loaded.stderr
    assert "Loaded 1 rates" in loaded.stdout
    listed = await clm(env, "rates", "list", "--currency", "HKD")
    assert listed.code == 0, listed.stderr
    assert RATES_FROM in listed.stdout and "0.92" in listed.stdout
