"""GDPR erasure end to end: ingest -> lifecycle, scoring, notify, audiences; DELETE; nothing
comes back.

Real uvicorn processes on the real Kafka and PostgreSQL. Each consumer here has its own
group, started at the end of its topics, so it reads only what this module posts. Lifecycle
erases its own rows and publishes the erasure tombstone; scoring, notify and audiences erase
theirs when they read it, so their tables are polled with a deadline.
"""

import re
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.erasure import customer_hash, default_secret, pseudonym
from shared.topics import CUSTOMER_STATE
from tests.support.factories import new_customer, profile, purchase
from tests.support.infra import Infrastructure
from tests.support.own_groups import start_audiences_with_own_groups, start_with_own_groups
from tests.support.polling import eventually
from tests.support.services import ServiceProcess
from tests.support.topics import TopicTail

GROUP = f"clm-erasure-test-{uuid.uuid4().hex[:8]}"
SEGMENT = f"erasure-{GROUP[-8:]}"
# Far beyond every deadline here: audiences' time sweep cannot be what erases its rows.
AUDIENCES_SWEEP_SECONDS = "3600"
NAME, EMAIL, PHONE = "Erin Erased", "erin.erased@example.com", "+8613800138000"
# Every table holding a customer's rows, with the column naming the customer.
TABLES = (
    "lifecycle_customers",
    "lifecycle_transitions",
    "lifecycle_contact_keys",
    "scoring_customers",
    "scoring_occasions",
    "scoring_purchases",
    "scoring_order_versions",
    "scoring_refunds",
    "scoring_contacts",
    "scoring_complaints",
    "notify_customers",
    "notify_messages",
    "audience_customers",
    "audience_members",
)


@pytest.fixture(scope="module")
async def services(
    infra: Infrastructure, start_service: Callable[..., ServiceProcess]
) -> AsyncIterator[dict[str, ServiceProcess]]:
    # Scoring keeps anonymous aggregates (its own setting), as the keeper lifecycle does.
    procs = await start_with_own_groups(
        infra.kafka_bootstrap,
        start_service,
        GROUP,
        scoring_env={"CLM_SCORING_ERASURE_KEEP_AGGREGATES": "true"},
    )
    procs |= {
        "audiences": await start_audiences_with_own_groups(
            infra.kafka_bootstrap,
            start_service,
            GROUP,
            CLM_AUDIENCES_SWEEP_INTERVAL_SECONDS=AUDIENCES_SWEEP_SECONDS,
        ),
        # Erases only (no consumer, no scheduler), keeping anonymous aggregates.
        "keeper": start_service(
            "lifecycle",
            CLM_LIFECYCLE_ERASURE_KEEP_AGGREGATES="true",
            CLM_LIFECYCLE_RUN_CONSUMER="false",
            CLM_LIFECYCLE_RUN_SCHEDULER="false",
        ),
    }
    yield procs
    # Their consumer groups are this module's own: left running, they would apply the other
    # modules' events a second time into the same tables.
    for proc in procs.values():
        proc.stop()


@pytest.fixture
async def db(infra: Infrastructure) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(infra.database_url)
    yield engine
    await engine.dispose()


async def _rows(db: AsyncEngine, table: str, customer_id: str) -> list[dict[str, Any]]:
    async with db.connect() as conn:
        result = await conn.execute(
            sa.text(f"SELECT * FROM {table} WHERE customer_id = :id"), {"id": customer_id}
        )
        return [dict(r._mapping) for r in result]


async def _skipped(service: ServiceProcess) -> float:
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as http:
        text = (await http.get("/metrics")).text
    found = re.search(r"^clm_erased_events_skipped_total\{[^}]*\} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def _known_everywhere(db: AsyncEngine, customer: str) -> None:
    """Waits until lifecycle, scoring, notify and audiences each hold the customer's data."""

    async def lifecycle() -> bool:
        rows = await _rows(db, "lifecycle_customers", customer)
        return (
            bool(rows)
            and orjson.loads(rows[0]["facts"]).get("profile", {}).get("email", [None] * 3)[2]
            == EMAIL
        )

    async def scoring() -> bool:
        return len(await _rows(db, "scoring_purchases", customer)) == 2

    async def notify() -> bool:
        rows = await _rows(db, "notify_customers", customer)
        return bool(rows) and rows[0]["email"] == EMAIL and rows[0]["name"] == NAME

    await eventually(lifecycle, timeout=60, what="lifecycle to hold the profile")
    await eventually(scoring, timeout=60, what="scoring to hold the purchases")

    async def audiences() -> bool:
        rows = await _rows(db, "audience_customers", customer)
        return bool(rows) and rows[0]["locale"] == "en"

    await eventually(notify, timeout=60, what="notify to hold the contact data")
    await eventually(audiences, timeout=60, what="audiences to hold its view")


async def _post_customer(ingest_client: httpx.AsyncClient, customer: str) -> None:
    now = datetime.now(UTC)
    events = [
        profile(
            customer,
            now - timedelta(days=30),
            name=NAME,
            email=EMAIL,
            phone=PHONE,
            birthday="1990-05-01",
            locale="en",
            timezone="UTC",
            consent={"email": True, "sms": True},
        ),
        purchase(customer, now - timedelta(days=20), amount="120.00"),
        purchase(customer, now - timedelta(days=2), amount="80.00"),
    ]
    resp = await ingest_client.post("/v1/events/batch", json={"events": events})
    assert resp.status_code == 202, resp.text


async def _erased_everywhere(db: AsyncEngine, customer: str, timeout: float = 60) -> None:
    """Waits until no table holds a row of the raw id (scoring and notify erase on the event)."""
    for table in TABLES:

        async def gone(table: str = table) -> bool:
            return await _rows(db, table, customer) == []

        await eventually(gone, timeout=timeout, what=f"{table} to lose the customer")


async def _known_customer(ingest_client: httpx.AsyncClient, db: AsyncEngine, prefix: str) -> str:
    customer = new_customer(prefix)
    await _post_customer(ingest_client, customer)
    await _known_everywhere(db, customer)
    return customer


async def _erase(service: ServiceProcess, admin_key: str, customer: str) -> None:
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=service.url, headers=headers) as http:
        resp = await http.delete(f"/v1/customers/{customer}")
    assert resp.status_code == 204, resp.text


def _mentions_personal_data(rows: list[dict[str, Any]]) -> bool:
    text = repr(rows)
    return any(value in text for value in (NAME, EMAIL, PHONE, "1990-05-01"))


async def test_erasure_removes_personal_data_everywhere_and_nothing_brings_it_back(
    services: dict[str, ServiceProcess],
    ingest_client: httpx.AsyncClient,
    admin_key: str,
    key_factory: Callable[[list[str]], str],
    infra: Infrastructure,
    db: AsyncEngine,
) -> None:
    customer = new_customer("gdpr")
    await _post_customer(ingest_client, customer)
    await _known_everywhere(db, customer)
    lifecycle = services["lifecycle"]
    url = f"{lifecycle.url}/v1/customers/{customer}"

    reader = key_factory(["customers:read"])
    async with httpx.AsyncClient(timeout=30) as http:
        resp = await http.delete(url, headers={"Authorization": f"Bearer {reader}"})
        assert resp.status_code == 403, resp.text
        assert (await http.delete(url)).status_code == 401
    assert await _rows(db, "lifecycle_customers", customer), "a refused erasure changed data"

    admin = {"Authorization": f"Bearer {admin_key}"}
    async with TopicTail(infra.kafka_bootstrap, CUSTOMER_STATE) as tail:
        async with httpx.AsyncClient(timeout=30, headers=admin) as http:
            resp = await http.delete(url)
            assert resp.status_code == 204, resp.text
        tombstones = await tail.collect(
            keep=lambda r: r.key == customer.encode(), until=lambda kept: len(kept) >= 1
        )
    assert tombstones[0].value is None

    await _erased_everywhere(db, customer)
    async with db.connect() as conn:
        recorded = await conn.scalar(
            sa.text("SELECT count(*) FROM erased_customers WHERE customer_id_hash = :h"),
            {"h": customer_hash(default_secret(), customer)},
        )
        raw = await conn.scalar(
            sa.text("SELECT count(*) FROM erased_customers WHERE customer_id_hash = :id"),
            {"id": customer},
        )
    assert (recorded, raw) == (1, 0)
    async with httpx.AsyncClient(timeout=30, headers=admin) as http:
        again = await http.get(url)
        assert again.status_code == 404
        assert (await http.delete(url)).status_code == 204  # repeatable: republishes the tombstone

    # A new profile event (new event_id) and a purchase for the erased id: every consumer drops
    # them (its skip counter moves), and no table gets the customer back.
    before = {name: await _skipped(services[name]) for name in ("lifecycle", "scoring", "notify")}
    late = [
        profile(customer, name=NAME, email=EMAIL, phone=PHONE, locale="en"),
        purchase(customer, amount="10.00"),
    ]
    resp = await ingest_client.post("/v1/events/batch", json={"events": late})
    assert resp.status_code == 202, resp.text
    for name, count in before.items():

        async def moved(name: str = name, count: float = count) -> bool:
            return await _skipped(services[name]) >= count + 2

        await eventually(moved, timeout=60, what=f"{name} to drop the erased customer's events")
    for table in TABLES:
        rows = await _rows(db, table, customer)
        assert rows == [], f"{table} got the erased customer back"
        assert not _mentions_personal_data(rows)


async def test_unknown_customer_gives_404(
    services: dict[str, ServiceProcess], admin_key: str
) -> None:
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=services["lifecycle"].url, headers=headers) as http:
        resp = await http.delete(f"/v1/customers/{new_customer('nobody')}")
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_keep_aggregates_keeps_only_anonymous_counts(
    services: dict[str, ServiceProcess],
    ingest_client: httpx.AsyncClient,
    admin_key: str,
    db: AsyncEngine,
) -> None:
    customer = await _known_customer(ingest_client, db, "gdpr-agg")
    kept_before = (await _rows(db, "lifecycle_customers", customer))[0]
    await _erase(services["keeper"], admin_key, customer)

    await _erased_everywhere(db, customer)
    anon = pseudonym(default_secret(), customer)
    kept = await _rows(db, "lifecycle_customers", anon)
    assert len(kept) == 1
    assert kept[0]["stage"] == kept_before["stage"]
    assert kept[0]["tier"] == kept_before["tier"]
    assert kept[0]["purchase_occasions"] == kept_before["purchase_occasions"] == 2
    kept_facts = orjson.loads(kept[0]["facts"])
    assert kept_facts["profile"] == {} and kept_facts["purchases"] == {}
    assert kept[0]["next_due_at"] is None
    scores = await _rows(db, "scoring_customers", anon)
    assert len(scores) == 1 and scores[0]["occasions"] == 2
    assert await _rows(db, "scoring_purchases", anon) == []
    assert await _rows(db, "notify_customers", anon) == []
    everything = [await _rows(db, t, anon) for t in TABLES]
    assert not any(_mentions_personal_data(rows) for rows in everything)
    assert customer not in repr(everything)


async def test_a_service_down_during_the_erasure_erases_when_it_comes_back(
    services: dict[str, ServiceProcess],
    ingest_client: httpx.AsyncClient,
    admin_key: str,
    db: AsyncEngine,
) -> None:
    customer = await _known_customer(ingest_client, db, "gdpr-down")
    services["scoring"].stop()
    services["notify"].stop()
    services["audiences"].stop()
    try:
        await _erase(services["lifecycle"], admin_key, customer)
        for table in ("lifecycle_customers", "lifecycle_transitions", "lifecycle_contact_keys"):
            assert await _rows(db, table, customer) == [], f"{table} still holds the customer"
        # Each service owns its tables: lifecycle left scoring's and notify's rows to them.
        assert len(await _rows(db, "scoring_purchases", customer)) == 2
        assert await _rows(db, "notify_customers", customer)
        assert await _rows(db, "audience_customers", customer)
    finally:
        services["scoring"].start()
        services["notify"].start()
        services["audiences"].start()
    await _erased_everywhere(db, customer)
    everything = [await _rows(db, t, customer) for t in TABLES]
    assert not any(_mentions_personal_data(rows) for rows in everything)


async def test_audiences_forgets_an_erased_member_on_the_tombstone_not_at_its_sweep(
    services: dict[str, ServiceProcess],
    ingest_client: httpx.AsyncClient,
    admin_key: str,
    db: AsyncEngine,
) -> None:
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(
        base_url=services["audiences"].url, headers=headers, timeout=30
    ) as audiences:
        resp = await audiences.post(
            "/v1/segments",
            json={"name": SEGMENT, "filter": {"field": "locale", "eq": "en"}},
        )
        assert resp.status_code == 201, resp.text
        try:
            customer = await _known_customer(ingest_client, db, "gdpr-member")

            async def member() -> bool:
                return bool(await _rows(db, "audience_members", customer))

            await eventually(member, timeout=60, what="the customer in the audience")
            await _erase(services["lifecycle"], admin_key, customer)
            # Well within the sweep interval: only the tombstone can have erased these rows.
            for table in ("audience_customers", "audience_members"):

                async def gone(table: str = table) -> bool:
                    return await _rows(db, table, customer) == []

                await eventually(gone, timeout=30, what=f"{table} to lose the customer")
            async with db.connect() as conn:
                pending = await conn.scalar(
                    sa.text("SELECT count(*) FROM outbox WHERE service = 'audiences' AND key = :k"),
                    {"k": customer.encode()},
                )
            assert pending == 0, "audiences would still publish the erased id"
        finally:
            assert (await audiences.delete(f"/v1/segments/{SEGMENT}")).status_code == 204
