"""Scoring over HTTP and Kafka against the real broker and database.

The database and topics are shared with other tests, so every assertion is about this
test's own customers; fits use purchases in 2000, a year no other test writes to.
"""

import hashlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import numpy as np
import orjson
import pytest
from aiokafka import ConsumerRecord

from services.scoring.domain import bgnbd, gamma_gamma, tracking
from services.scoring.domain.simulation import simulate_bgnbd
from services.scoring.domain.summary import summarise_customer
from shared.cloudevents import KafkaRecord, to_kafka
from shared.customer_event_codec import to_cloudevent
from shared.events import customer_event_adapter
from shared.kafka_producer import KafkaPublisher
from shared.topics import CUSTOMER_EVENTS, CUSTOMER_SCORES, dlq_of
from tests.support.factories import complaint, contact, new_customer, purchase
from tests.support.infra import Infrastructure
from tests.support.polling import eventually
from tests.support.services import ServiceProcess, service_client
from tests.support.topics import TopicTail

AS_OF = "2001-01-01T00:00:00+00:00"


@pytest.fixture(scope="module")
def scoring(start_service: Callable[..., ServiceProcess]) -> ServiceProcess:
    return start_service("scoring", CLM_SCORING_REFIT_INTERVAL_HOURS="0")


@pytest.fixture
async def client(scoring: ServiceProcess, admin_key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client(scoring, admin_key, timeout=60) as c:
        yield c


@pytest.fixture
async def publisher(infra: Infrastructure) -> AsyncIterator[KafkaPublisher]:
    pub = KafkaPublisher(infra.kafka_bootstrap, "scoring-tests")
    yield pub
    await pub.stop()


def _population(n: int, seed: int) -> dict[str, list[tuple[datetime, float]]]:
    """Customers drawn from BG/NBD (weeks) and buying in 2000, up to AS_OF."""
    rng = np.random.default_rng(seed)
    truth = bgnbd.BgNbdParams(r=2.0, alpha=8.0, a=1.0, b=3.0)
    ages = rng.uniform(4, 52, n)
    sim = simulate_bgnbd(truth, ages, rng)
    end = datetime.fromisoformat(AS_OF) - timedelta(hours=12)
    people: dict[str, list[tuple[datetime, float]]] = {}
    for x, t_x, age in zip(sim.frequency, sim.recency, sim.age, strict=True):
        first = end - timedelta(weeks=float(age))
        offsets = np.r_[0.0, rng.uniform(0, t_x, max(int(x) - 1, 0)), t_x if x else []]
        spend = float(rng.uniform(20, 200))
        people[new_customer("score")] = [
            (first + timedelta(weeks=float(o)), round(spend * rng.uniform(0.5, 1.5), 2))
            for o in offsets
        ]
    return people


async def _forget_published(infra: Infrastructure, customer_ids: list[str]) -> None:
    conn = await asyncpg.connect(infra.database_url.replace("+asyncpg", ""))
    try:
        await conn.execute(
            "UPDATE scoring_customers SET published_p_alive = NULL, published_churn_risk = NULL,"
            " published_clv = NULL, published_segment = NULL WHERE customer_id = ANY($1)",
            customer_ids,
        )
    finally:
        await conn.close()


async def _scores(client: httpx.AsyncClient, customer: str, **params: Any) -> httpx.Response:
    return await client.get(f"/v1/customers/{customer}/scores", params=params)


def _is_scores_for(customers: set[str]) -> Callable[[ConsumerRecord], bool]:  # type: ignore[type-arg]
    return lambda r: r.key is not None and r.key.decode() in customers


async def test_purchases_through_ingest_are_fitted_scored_and_published(
    infra: Infrastructure,
    ingest_client: httpx.AsyncClient,
    client: httpx.AsyncClient,
) -> None:
    people = _population(150, seed=7)
    events = [
        purchase(c, t.isoformat(), amount=f"{amount:.2f}")
        for c, orders in people.items()
        for t, amount in orders
    ]
    async with TopicTail(infra.kafka_bootstrap, CUSTOMER_SCORES) as tail:
        resp = await ingest_client.post("/v1/events/batch", json={"events": events})
        assert resp.status_code == 202, resp.text

        async def all_counted() -> bool:
            for customer, orders in people.items():
                got = await _scores(client, customer, as_of=AS_OF)
                if got.status_code != 200:
                    return False
                stats = got.json()["statistics"]
                days = {t.date() for t, _ in orders}
                if stats["purchase_occasions"] != len(days):
                    return False
            return True

        await eventually(all_counted, timeout=60, interval=0.3, what="scoring saw the purchases")
        # As if never published: the rescore must then publish every one of them, whatever
        # model an earlier run left current (a model as good as the new one moves nothing).
        await _forget_published(infra, list(people))

        fit = await client.post("/v1/models/fit", json={"as_of": AS_OF, "time_unit": "week"})
        assert fit.status_code == 201, fit.text
        model = fit.json()
        assert set(model) >= {"model_id", "as_of", "time_unit", "bgnbd", "gamma_gamma"}
        assert set(model["bgnbd"]) >= {"r", "alpha", "a", "b", "log_likelihood", "n_customers"}
        assert set(model["gamma_gamma"]) >= {"p", "q", "gamma", "n_customers"}
        assert model["bgnbd"]["n_customers"] >= len(people)
        assert model["time_unit"] == "week"
        current = await client.get("/v1/models/current")
        assert current.json()["model_id"] == model["model_id"]
        stored = await client.get(f"/v1/models/{model['model_id']}")
        assert stored.json()["bgnbd"] == model["bgnbd"]

        bg = bgnbd.BgNbdParams(*(model["bgnbd"][k] for k in ("r", "alpha", "a", "b")))
        gg = gamma_gamma.GammaGammaParams(*(model["gamma_gamma"][k] for k in ("p", "q", "gamma")))
        as_of = datetime.fromisoformat(AS_OF)
        for customer, orders in list(people.items())[:10]:
            got = (await _scores(client, customer, as_of=AS_OF, horizon=13)).json()
            s = summarise_customer(orders, as_of, "week")
            assert got["model_id"] == model["model_id"]
            assert got["p_alive"] == pytest.approx(
                float(bgnbd.p_alive(bg, s.frequency, s.recency, s.age)), rel=1e-9
            )
            assert got["expected_purchases"] == pytest.approx(
                float(bgnbd.expected_purchases(bg, 13, s.frequency, s.recency, s.age)), rel=1e-9
            )
            assert got["churn_risk"] == pytest.approx(
                float(bgnbd.prob_no_purchase(bg, 13, s.frequency, s.recency, s.age)), rel=1e-6
            )
            first_day = min(at.astimezone(UTC).date() for at, _ in orders)
            first_amount = sum(a for at, a in orders if at.astimezone(UTC).date() == first_day)
            assert got["expected_avg_spend"] == pytest.approx(
                float(
                    gamma_gamma.conditional_expected_average_spend(
                        gg, s.frequency, s.monetary, first_amount=first_amount
                    )
                ),
                rel=1e-9,
            )
            assert got["historical_value"] == pytest.approx(sum(a for _, a in orders))
            assert got["rfm"]["segment"]
            assert 0 <= got["health_score"] <= 100
            assert got["clv"] > 0

        async def rescored() -> bool:
            status = (await client.get(f"/v1/models/{model['model_id']}")).json()
            return bool(status["rescore"]["status"] == "done")

        await eventually(rescored, timeout=60, interval=0.3, what="bulk rescore")
        records = await tail.collect(
            _is_scores_for(set(people)),
            until=lambda kept: (
                {r.key.decode() for r in kept} == set(people)
                and any(orjson.loads(r.value)["model_id"] == model["model_id"] for r in kept)
            ),
            timeout=60,
        )
    for record in records:
        headers = dict(record.headers)
        assert headers["ce_type"] == b"clm.scoring.scores_updated"
        assert headers["ce_subject"] == record.key
        body = orjson.loads(record.value)
        assert body["customer_id"] == record.key.decode()
        assert 0 <= body["churn_risk"] <= 1
        # Online and rescore updates are both encoded by publishing.score_messages: one shape.
        assert list(body) == [
            "customer_id", "model_id", "p_alive", "churn_risk", "expected_purchases",
            "expected_avg_spend", "clv", "segment", "health_score", "horizon", "time_unit",
            "scored_at", "cause",
        ]  # fmt: skip
        identity = f"{body['customer_id']}\x1f{body['model_id']}\x1f{body['cause']}"
        assert headers["ce_id"] == hashlib.sha256(identity.encode()).hexdigest().encode()
        assert headers["ce_time"].decode() == body["scored_at"]
    assert any(orjson.loads(r.value)["cause"].startswith("rescore:") for r in records)

    forecast = await client.get("/v1/forecast", params={"horizon": 52})
    assert forecast.status_code == 200
    assert forecast.json()["expected_repeat_purchases"] > 0
    assert forecast.json()["model_id"] == model["model_id"]

    await _assert_tracking(infra, client, model, people)

    first = (await client.get("/v1/customers/top", params={"by": "clv", "limit": 2})).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = (
        await client.get(
            "/v1/customers/top", params={"by": "clv", "limit": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    assert first["items"][-1]["clv"] >= second["items"][0]["clv"]
    assert not {i["customer_id"] for i in first["items"]} & {
        i["customer_id"] for i in second["items"]
    }
    risky = (await client.get("/v1/customers/top", params={"by": "churn_risk"})).json()
    risks = [i["churn_risk"] for i in risky["items"]]
    assert risks == sorted(risks, reverse=True)

    cohorts = (await client.get("/v1/cohorts/retention", params={"since": "2000-01-01"})).json()
    january = next(c for c in cohorts["cohorts"] if c["cohort"] == "2000-01")
    assert january["survivors"][0] >= 1
    assert january["survivors"] == sorted(january["survivors"], reverse=True)


async def _assert_tracking(
    infra: Infrastructure,
    client: httpx.AsyncClient,
    model: dict[str, Any],
    people: dict[str, list[tuple[datetime, float]]],
) -> None:
    """GET /v1/models/current/tracking against the stored occasions up to AS_OF (the year-2000
    population of every run of this test) and the closed-form E[X(t)] of the fitted model."""
    got = await client.get("/v1/models/current/tracking")
    assert got.status_code == 200, got.text
    t = got.json()
    assert (t["model_id"], t["time_unit"]) == (model["model_id"], "week")
    assert t["n_customers"] == model["bgnbd"]["n_customers"]
    conn = await asyncpg.connect(infra.database_url.replace("+asyncpg", ""))
    try:
        rows = await conn.fetch(
            "SELECT min(day) AS first, count(*) - 1 AS repeats FROM scoring_occasions"
            " WHERE day < $1::date GROUP BY customer_id",
            datetime.fromisoformat(AS_OF).date(),
        )
    finally:
        await conn.close()
    as_of_day = datetime.fromisoformat(AS_OF).date()
    ages_days = np.array([(as_of_day - r["first"]).days for r in rows], dtype=float)
    own_repeats = sum(len({when.date() for when, _ in orders}) - 1 for orders in people.values())
    assert t["total_actual"] == sum(r["repeats"] for r in rows) >= own_repeats > 0
    bg = bgnbd.BgNbdParams(*(model["bgnbd"][k] for k in ("r", "alpha", "a", "b")))
    expected = bgnbd.expected_purchases_unconditional(bg, ages_days / 7.0).sum()
    assert t["total_expected"] == pytest.approx(float(expected), rel=1e-9)
    # Every period from the first purchase on is counted; the most recent 104 (two years of
    # weeks) are shown, and what came before is summed in omitted_*.
    assert t["n_periods"] == int(np.ceil(ages_days.max() / 7.0))
    assert len(t["actual"]) == min(t["n_periods"], tracking.MAX_PERIODS)
    assert t["periods_omitted"] == t["n_periods"] - len(t["actual"])
    assert t["omitted_actual"] + sum(t["actual"]) == t["total_actual"]
    assert t["period_end"][-1] == as_of_day.isoformat()
    assert t["cumulative_actual"] == (t["omitted_actual"] + np.cumsum(t["actual"])).tolist()
    assert t["cumulative_expected"] == pytest.approx(
        (t["omitted_expected"] + np.cumsum(t["expected"])).tolist(), rel=1e-9
    )


def _record(event: dict[str, Any]) -> KafkaRecord:
    return to_kafka(CUSTOMER_EVENTS, to_cloudevent(customer_event_adapter.validate_python(event)))


async def test_same_event_id_twice_is_counted_once(
    client: httpx.AsyncClient, publisher: KafkaPublisher
) -> None:
    customer = new_customer("dup")
    first = purchase(customer, "2024-05-01T10:00:00+00:00", amount="40.00")
    again = {**first, "data": {**first["data"], "amount": "999.00"}}
    sentinel = purchase(customer, "2024-05-03T10:00:00+00:00", amount="2.00")
    # Straight to Kafka: ingest's own repeat filter would stop the second copy.
    await publisher.publish([_record(first)])
    await publisher.publish([_record(again), _record(sentinel)])

    async def both_days() -> dict[str, Any] | None:
        resp = await _scores(client, customer)
        if resp.status_code != 200:
            return None
        stats = resp.json()["statistics"]
        return stats if stats["purchase_occasions"] == 2 else None

    stats = await eventually(both_days, timeout=30, what="the sentinel purchase")
    assert stats["total_spend"] == pytest.approx(42.0)


async def test_a_lost_prospect_is_unhealthy_and_nps_answers_count(
    client: httpx.AsyncClient, publisher: KafkaPublisher
) -> None:
    """Issue 16.5: a prospect lost without ever buying had health 100; NPS was ignored."""
    lost, survey = new_customer("lost"), new_customer("nps")
    long_ago = (datetime.now(UTC) - timedelta(days=150)).isoformat()
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    resolved = complaint(survey, yesterday, status="resolved")
    rated = {**resolved, "data": {**resolved["data"], "satisfaction": 5, "nps": 9}}
    await publisher.publish(
        [
            _record(contact(lost, long_ago)),
            _record(contact(survey, yesterday)),
            _record(rated),
        ]
    )

    async def scored(customer: str) -> dict[str, Any] | None:
        resp = await _scores(client, customer)
        return resp.json() if resp.status_code == 200 else None

    gone = await eventually(lambda: scored(lost), timeout=30, what="the lost prospect")
    assert gone["health_score"] is not None and gone["health_score"] <= 15
    answered = await eventually(lambda: scored(survey), timeout=30, what="the surveyed one")
    assert answered["statistics"]["nps"] == 9
    assert answered["health_score"] >= 80


async def test_poison_record_goes_to_the_dlq_and_consumption_goes_on(
    infra: Infrastructure, client: httpx.AsyncClient, publisher: KafkaPublisher
) -> None:
    key = new_customer("poison")
    bad = KafkaRecord(
        CUSTOMER_EVENTS,
        key.encode(),
        b"{not json",
        [
            ("ce_specversion", b"1.0"),
            ("ce_id", f"evt-{key}".encode()),
            ("ce_source", b"/tests"),
            ("ce_type", b"clm.customer.purchase"),
            ("ce_time", b"2024-01-01T00:00:00+00:00"),
        ],
    )
    after = new_customer("after-poison")
    async with TopicTail(infra.kafka_bootstrap, dlq_of(CUSTOMER_EVENTS)) as tail:
        await publisher.publish([bad])
        await publisher.publish([_record(purchase(after, "2024-06-01T10:00:00+00:00"))])
        [dead] = await tail.collect(
            lambda r: r.key == key.encode() and dict(r.headers)["dlq_group"] == b"clm-scoring",
            until=lambda kept: len(kept) >= 1,
            timeout=30,
        )
    assert b"JSON" in dict(dead.headers)["dlq_error"]

    async def known() -> bool:
        return (await _scores(client, after)).status_code == 200

    await eventually(known, timeout=30, what="the event after the poison record")


async def test_problems(
    scoring: ServiceProcess,
    client: httpx.AsyncClient,
    key_factory: Callable[[list[str]], str],
) -> None:
    async with httpx.AsyncClient(base_url=scoring.url, timeout=30) as anonymous:
        unauthorized = await anonymous.get("/v1/models/current")
        assert unauthorized.status_code == 401
        assert unauthorized.headers["content-type"] == "application/problem+json"
        reader = {"Authorization": f"Bearer {key_factory(['scores:read'])}"}
        forbidden = await anonymous.post(
            "/v1/models/fit", json={"as_of": AS_OF, "time_unit": "week"}, headers=reader
        )
        assert forbidden.status_code == 403
        assert forbidden.json()["status"] == 403

    missing = await _scores(client, new_customer("nobody"))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert (await client.get("/v1/models/m-does-not-exist")).status_code == 404

    # Ingest refuses events before 1970 (shared.event_limits), so nobody had bought by then.
    too_few = await client.post(
        "/v1/models/fit", json={"as_of": "1969-12-31T00:00:00Z", "time_unit": "week"}
    )
    assert too_few.status_code == 422
    assert too_few.json()["n_customers"] == 0

    bad_unit = await client.post("/v1/models/fit", json={"as_of": AS_OF, "time_unit": "year"})
    assert bad_unit.status_code == 422
    assert [e["field"] for e in bad_unit.json()["errors"]] == ["body.time_unit"]

    for survivors in ([1000], [1000, 600, 700], [1000, -1, 0]):
        resp = await client.post("/v1/models/retention", json={"survivors": survivors})
        assert resp.status_code == 422, survivors
        assert "survivors" in resp.json()["errors"][0]["field"]


async def test_retention_reproduces_fader_hardie_2007(client: httpx.AsyncClient) -> None:
    regular = [1000, 631, 468, 382, 326, 289, 262, 241]
    resp = await client.post(
        "/v1/models/retention", json={"survivors": regular, "discount_rate": 0.1}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["alpha"], body["beta"]) == pytest.approx((0.704, 1.182), abs=1e-3)
    projected = body["projected_survivors"]
    assert projected[0] == pytest.approx(1000)
    assert len(projected) > len(regular)
    assert projected == sorted(projected, reverse=True)
    assert body["expected_lifetime"] is None and body["expected_lifetime_is_infinite"]
    assert body["discounted_expected_lifetime"] > 1
