"""Outages answer 503 with Retry-After, never 500, and never hang.

PostgreSQL down: ingest keeps accepting events (keys from its cache, Kafka is up); every
other service's read and write APIs answer 503 + Retry-After at once. Kafka down: every ingest
request, single or batch, answers 503 + Retry-After within the publish timeout, also when its
transactional producers were in use before the outage.

Each outage is made on a disposable PostgreSQL or broker of its own, so the session's
infrastructure keeps running for the other tests.
"""

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from deploy.local.stack import KafkaNode
from shared.kafka_admin import ensure_topics, wait_for_broker
from shared.topics import CUSTOMER_EVENTS, CUSTOMER_SCORES, LIFECYCLE_CHANGES
from tests.support.disposable_postgres import DisposablePostgres
from tests.support.factories import new_customer, purchase
from tests.support.infra import Infrastructure
from tests.support.polling import eventually
from tests.support.services import ROOT, ServiceProcess, free_port
from tests.support.topics import start_group_at_end

PUBLISH_TIMEOUT = 3.0
# The bound a client sees: the publish timeout plus HTTP and scheduling slack on a busy machine.
BOUND = PUBLISH_TIMEOUT + 2.5
GROUP = f"outage-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def outage_broker() -> Iterator[KafkaNode]:
    with tempfile.TemporaryDirectory(prefix="clm-outage-broker-") as home:
        node = KafkaNode("kafka-outage-bounded", Path(home), free_port(), free_port(), heap="512m")
        node.start()
        try:
            yield node
        finally:
            node.stop(crash=True)


@pytest.fixture(scope="module")
def outage_postgres() -> Iterator[DisposablePostgres]:
    with tempfile.TemporaryDirectory(prefix="clm-outage-pg-") as home:
        pg = DisposablePostgres(Path(home), free_port())
        pg.start()
        env = {**os.environ, "DATABASE_URL": pg.url}
        subprocess.run(
            [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), "upgrade", "head"],
            check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            yield pg
        finally:
            pg.stop()


def _key_for(database_url: str) -> str:
    key = f"clm_outage_{uuid.uuid4().hex}"
    subprocess.run(
        [sys.executable, "-m", "shared.apikeys_cli", "register", "--name", "outage", "--key", key,
         "--all-scopes"],
        check=True, cwd=ROOT, env={**os.environ, "DATABASE_URL": database_url},
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return key


def _assert_unavailable(resp: httpx.Response, elapsed: float, what: str) -> None:
    assert resp.status_code == 503, f"{what}: {resp.status_code} {resp.text}"
    assert resp.headers["retry-after"].isdigit(), what
    assert resp.headers["content-type"] == "application/problem+json", what
    assert elapsed < BOUND, f"{what} took {elapsed:.1f} s"


async def _timed(call: Callable[[], Awaitable[httpx.Response]]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    resp = await call()
    return resp, time.monotonic() - started


async def test_kafka_down_every_ingest_request_answers_503_within_the_publish_timeout(
    outage_broker: KafkaNode, start_service: Callable[..., ServiceProcess], admin_key: str
) -> None:
    await wait_for_broker(outage_broker.bootstrap, 90)
    await ensure_topics(outage_broker.bootstrap, 3)
    ingest = start_service(
        "ingest",
        KAFKA_BOOTSTRAP_SERVERS=outage_broker.bootstrap,
        CLM_INGEST_PUBLISH_TIMEOUT_SECONDS=str(PUBLISH_TIMEOUT),
    )
    headers = {"Authorization": f"Bearer {admin_key}"}
    customer = new_customer("outage")
    async with httpx.AsyncClient(base_url=ingest.url, headers=headers, timeout=120) as client:
        # Every transactional producer of the pool in use before the outage, as under load
        # (the first ones wait while a fresh broker creates its transaction log).
        for _ in range(6):

            async def accepted_before() -> bool:
                batch = {"events": [purchase(customer) for _ in range(3)]}
                return (await client.post("/v1/events/batch", json=batch)).status_code == 202

            await eventually(accepted_before, timeout=90, interval=0.5, what="a batch accepted")

        outage_broker.stop(crash=True)
        for round_ in range(2):
            calls = [
                _timed(
                    lambda: client.post("/v1/events/batch", json={"events": [purchase(customer)]})
                )
                for _ in range(5)
            ] + [_timed(lambda: client.post("/v1/events", json=purchase(customer)))]
            for n, (resp, elapsed) in enumerate(await asyncio.gather(*calls)):
                _assert_unavailable(resp, elapsed, f"round {round_} request {n}")

        outage_broker.start()
        await wait_for_broker(outage_broker.bootstrap, 90)

        async def accepted() -> bool:
            batch = {"events": [purchase(customer)]}
            return (await client.post("/v1/events/batch", json=batch)).status_code == 202

        await eventually(accepted, timeout=90, interval=0.5, what="batches accepted again")


async def test_postgres_down_ingest_accepts_and_the_other_services_answer_503(
    outage_postgres: DisposablePostgres,
    infra: Infrastructure,
    start_service: Callable[..., ServiceProcess],
) -> None:
    key = _key_for(outage_postgres.url)
    bootstrap = infra.kafka_bootstrap
    for group, topic in [
        ("scoring", CUSTOMER_EVENTS), ("notify-lifecycle", LIFECYCLE_CHANGES),
        ("notify-events", CUSTOMER_EVENTS), ("notify-scores", CUSTOMER_SCORES),
    ]:  # fmt: skip
        await start_group_at_end(bootstrap, f"{GROUP}-{group}", [topic])
    db = {"DATABASE_URL": outage_postgres.url}
    ingest = start_service("ingest", **db)
    lifecycle = start_service(
        "lifecycle", **db, CLM_LIFECYCLE_RUN_CONSUMER="false", CLM_LIFECYCLE_RUN_SCHEDULER="false"
    )
    scoring = start_service(
        "scoring", **db, CLM_SCORING_CONSUMER_GROUP=f"{GROUP}-scoring",
        CLM_SCORING_REFIT_INTERVAL_HOURS="0",
    )  # fmt: skip
    notify = start_service(
        "notify", **db, CLM_NOTIFY_CONSUMER_GROUP=f"{GROUP}-notify", CLM_NOTIFY_RUN_SENDER="false",
        CLM_NOTIFY_RUN_CALENDAR="false",
    )  # fmt: skip
    customer = new_customer("pgdown")
    requests: list[tuple[str, str, str, dict[str, bool] | None]] = [
        ("lifecycle", "GET", f"{lifecycle.url}/v1/customers/{customer}", None),
        ("lifecycle", "GET", f"{lifecycle.url}/v1/customers", None),
        ("lifecycle", "GET", f"{lifecycle.url}/v1/stats/stages", None),
        ("lifecycle", "DELETE", f"{lifecycle.url}/v1/customers/{customer}", None),
        ("scoring", "GET", f"{scoring.url}/v1/customers/{customer}/scores", None),
        ("scoring", "GET", f"{scoring.url}/v1/models/current", None),
        ("scoring", "GET", f"{scoring.url}/v1/customers/top", None),
        ("notify", "GET", f"{notify.url}/v1/customers/{customer}/messages", None),
        ("notify", "GET", f"{notify.url}/v1/messages", None),
        ("notify", "PUT", f"{notify.url}/v1/customers/{customer}/preferences", {"email": False}),
        ("notify", "GET", f"{notify.url}/v1/customers/{customer}/preferences", None),
    ]
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(headers=headers, timeout=60) as http:
        # Each service has seen the key while the database was up.
        assert (
            await http.post(f"{ingest.url}/v1/events", json=purchase(customer))
        ).status_code == 202
        for _, method, url, body in requests[:1] + requests[4:5] + requests[7:8]:
            assert (await http.request(method, url, json=body)).status_code < 500

        outage_postgres.stop()
        try:

            async def database_down() -> bool:
                return (await http.get(f"{ingest.url}/readyz")).status_code == 503

            await eventually(database_down, timeout=30, what="ingest to see the database down")
            # Beyond the old 30 s cache life would take 30 s; the listener's loss is what
            # matters now: from here on every look-up goes to the (unreachable) database.
            for _ in range(3):
                resp, elapsed = await _timed(
                    lambda: http.post(f"{ingest.url}/v1/events", json=purchase(customer))
                )
                assert resp.status_code == 202, resp.text
                assert elapsed < BOUND
            stranger = {"Authorization": "Bearer clm_never_seen_before"}
            resp, elapsed = await _timed(
                lambda: http.post(
                    f"{ingest.url}/v1/events", json=purchase(customer), headers=stranger
                )
            )
            _assert_unavailable(resp, elapsed, "ingest with a key never seen")
            for service, method, url, body in requests:
                resp, elapsed = await _timed(
                    lambda: http.request(method, url, json=body)  # noqa: B023
                )
                _assert_unavailable(resp, elapsed, f"{service} {method} {url}")
        finally:
            outage_postgres.start()

        async def back() -> bool:
            resp = await http.get(f"{lifecycle.url}/v1/stats/stages")
            return resp.status_code == 200

        await eventually(back, timeout=60, interval=0.5, what="lifecycle to answer again")
