"""What internal apps ask of a customer, end to end: find it by e-mail, phone or name, read
its event timeline, export everything held on it; and none of it once the customer is erased.

Real uvicorn processes on the real Kafka and PostgreSQL. Each consumer here has its own
group, started at the end of its topics, so it reads only what this module posts.
"""

import random
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import create_async_engine

from services.lifecycle.adapters.customer_lookup import CustomerSearch, conditions
from services.lifecycle.adapters.tables import contact_keys
from tests.support.factories import complaint, contact, new_customer, profile, purchase
from tests.support.infra import Infrastructure
from tests.support.own_groups import start_audiences_with_own_groups, start_with_own_groups
from tests.support.polling import eventually
from tests.support.services import ServiceProcess

GROUP = f"clm-access-test-{uuid.uuid4().hex[:8]}"
TOKEN = uuid.uuid4().hex[:10]  # makes this module's e-mails and names unique in the database
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
async def services(
    infra: Infrastructure, start_service: Callable[..., ServiceProcess]
) -> AsyncIterator[dict[str, ServiceProcess]]:
    procs = await start_with_own_groups(infra.kafka_bootstrap, start_service, GROUP)
    procs["audiences"] = await start_audiences_with_own_groups(
        infra.kafka_bootstrap, start_service, GROUP
    )
    yield procs
    for proc in procs.values():
        proc.stop()


def _client(service: ServiceProcess, key: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.AsyncClient(base_url=service.url, headers=headers, timeout=30)


def _phone() -> tuple[str, str]:
    """A unique mobile number as typed by a person, and its key."""
    digits = f"139{random.randrange(10**8):08d}"
    return f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}", f"86{digits}"


async def _post(ingest_client: httpx.AsyncClient, events: list[dict[str, Any]]) -> None:
    resp = await ingest_client.post("/v1/events/batch", json={"events": events})
    assert resp.status_code == 202, resp.text


async def _found(
    lifecycle: httpx.AsyncClient, body: dict[str, Any], expected: int
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        resp = await lifecycle.post("/v1/customers/search", json=body)
        assert resp.status_code == 200, resp.text
        found: dict[str, Any] = resp.json()
        return found if len(found["items"]) == expected else None

    return await eventually(probe, timeout=60, interval=0.3, what=f"search {body}")


async def test_customers_are_found_by_normalised_email_phone_and_name(
    services: dict[str, ServiceProcess], ingest_client: httpx.AsyncClient, admin_key: str
) -> None:
    ann, anna = new_customer("find"), new_customer("find")
    ann_phone, ann_phone_key = _phone()
    await _post(
        ingest_client,
        [
            profile(
                ann,
                NOW - timedelta(days=3),
                name=f"Ann {TOKEN} Lee",
                email=f"Ann.Lee@{TOKEN}.Example.com",
                phone=ann_phone,
            ),
            profile(anna, NOW - timedelta(days=3), name=f"Anna {TOKEN}", email=f"ann.b@{TOKEN}.io"),
        ],
    )
    async with _client(services["lifecycle"], admin_key) as lifecycle:
        by_email = await _found(lifecycle, {"email": f"  ann.lee@{TOKEN}.EXAMPLE.COM "}, 1)
        assert [c["customer_id"] for c in by_email["items"]] == [ann]
        assert by_email["items"][0]["contact"]["email"] == f"Ann.Lee@{TOKEN}.Example.com"
        by_phone = await _found(lifecycle, {"phone": f"00{ann_phone_key}"}, 1)
        assert [c["customer_id"] for c in by_phone["items"]] == [ann]
        # Full-width capitals and doubled spaces: NFKC, case folding and whitespace collapsing.
        full_width = "\uff21\uff2e\uff2e"  # ＡＮＮ
        by_name = await _found(lifecycle, {"name": f"{full_width}  {TOKEN}   LEE"}, 1)
        assert [c["customer_id"] for c in by_name["items"]] == [ann]
        by_name_prefix = await _found(lifecycle, {"name": f"ann {TOKEN}", "match": "prefix"}, 1)
        assert [c["customer_id"] for c in by_name_prefix["items"]] == [ann]
        # Both e-mails start "ann."; other modules' customers may too: page through them all.
        prefix = {"email": "ANN.", "match": "prefix"}
        cursor, seen = None, []
        for _ in range(1000):
            resp = await lifecycle.post(
                "/v1/customers/search", json={**prefix, "limit": 1, "cursor": cursor}
            )
            assert resp.status_code == 200, resp.text
            body = resp.json()
            assert len(body["items"]) <= 1
            seen += [c["customer_id"] for c in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert {ann, anna} <= set(seen)
        assert len(seen) == len(set(seen)) and seen == sorted(seen)
        exact_miss = await lifecycle.post("/v1/customers/search", json={"email": "ann."})
        assert ann not in [c["customer_id"] for c in exact_miss.json()["items"]]
        by_both = await lifecycle.post(
            "/v1/customers/search",
            json={"name": f"anna {TOKEN}", "email": f"ann.b@{TOKEN}", "match": "prefix"},
        )
        assert [c["customer_id"] for c in by_both.json()["items"]] == [anna]


async def test_contact_details_are_shown_only_to_keys_that_may_read_personal_data(
    services: dict[str, ServiceProcess],
    ingest_client: httpx.AsyncClient,
    key_factory: Callable[[list[str]], str],
) -> None:
    customer = new_customer("find-pii")
    email = f"pii.{TOKEN}@example.com"
    await _post(ingest_client, [profile(customer, name="Pia Private", email=email)])
    reader = key_factory(["customers:read"])
    pii_reader = key_factory(["customers:read", "pii:read"])
    async with _client(services["lifecycle"], reader) as lifecycle:
        found = await _found(lifecycle, {"email": email}, 1)
    [item] = found["items"]
    assert item["customer_id"] == customer and item["contact"] is None
    assert "Pia" not in str(found) and email not in str(found)
    async with _client(services["lifecycle"], pii_reader) as lifecycle:
        [shown] = (await _found(lifecycle, {"email": email}, 1))["items"]
    assert shown["contact"] == {"name": "Pia Private", "email": email, "phone": None}
    for scopes in (["pii:read"], ["scores:read"]):  # the lookup itself needs customers:read
        async with _client(services["lifecycle"], key_factory(scopes)) as lifecycle:
            resp = await lifecycle.post("/v1/customers/search", json={"email": email})
        assert resp.status_code == 403, (scopes, resp.text)
    async with httpx.AsyncClient(base_url=services["lifecycle"].url) as anonymous:
        resp = await anonymous.post("/v1/customers/search", json={"email": email})
        assert resp.status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "call me"}, "body.phone"),
        ({"phone": "+1 234 567 890 123 456"}, "body.phone"),
        ({"email": "   "}, "body.email"),
        ({"name": "ab", "match": "prefix"}, "body.name"),
        ({"email": "a@b.io", "match": "fuzzy"}, "body.match"),
        ({"email": "a@b.io", "limit": 0}, "body.limit"),
        ({}, "body.email"),
    ],
)
async def test_bad_lookups_are_problems_naming_the_field(
    services: dict[str, ServiceProcess], admin_key: str, body: dict[str, Any], field: str
) -> None:
    async with _client(services["lifecycle"], admin_key) as lifecycle:
        resp = await lifecycle.post("/v1/customers/search", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in resp.json()["errors"]]


async def _timeline(lifecycle: httpx.AsyncClient, customer: str, count: int) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        resp = await lifecycle.get(f"/v1/customers/{customer}/events", params={"limit": 1000})
        if resp.status_code != 200:
            return None
        body: dict[str, Any] = resp.json()
        return body if len(body["items"]) == count else None

    return await eventually(probe, timeout=60, interval=0.3, what=f"{count} events of {customer}")


async def test_the_event_timeline_pages_through_a_customers_events(
    services: dict[str, ServiceProcess],
    ingest_client: httpx.AsyncClient,
    admin_key: str,
    key_factory: Callable[[list[str]], str],
) -> None:
    customer = new_customer("timeline")
    events = [
        profile(customer, NOW - timedelta(days=10), name="Tim Line", locale="en"),
        purchase(customer, NOW - timedelta(days=9), amount="42.50"),
        contact(customer, NOW - timedelta(days=8)),
        complaint(customer, NOW - timedelta(days=7), ticket_id="t-77"),
        complaint(customer, NOW - timedelta(days=6), ticket_id="t-77", status="resolved"),
    ]
    await _post(ingest_client, events)
    async with _client(services["lifecycle"], admin_key) as lifecycle:
        whole = await _timeline(lifecycle, customer, len(events))
        assert [e["event_id"] for e in whole["items"]] == [e["event_id"] for e in events]
        assert [e["type"] for e in whole["items"]] == [
            "profile", "purchase", "contact", "complaint", "complaint"
        ]  # fmt: skip
        assert whole["items"][0]["data"] == {"locale": "en", "name": "Tim Line"}
        assert Decimal(whole["items"][1]["data"]["amount"]) == Decimal("42.50")
        assert whole["currency"] == "CNY"
        # The resolution restated the severity: the ticket's current severity is its.
        assert whole["items"][3]["data"] == {"ticket_id": "t-77", "status": "opened"}
        assert whole["items"][4]["data"] == {
            "ticket_id": "t-77",
            "status": "resolved",
            "severity": "high",
        }
        paged, cursor = [], None
        for _ in range(10):
            params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            resp = await lifecycle.get(f"/v1/customers/{customer}/events", params=params)
            assert resp.status_code == 200, resp.text
            paged += [e["event_id"] for e in resp.json()["items"]]
            cursor = resp.json()["next_cursor"]
            if cursor is None:
                break
        assert paged == [e["event_id"] for e in events]
        bad = await lifecycle.get(f"/v1/customers/{customer}/events", params={"cursor": "x!y"})
        assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "query.cursor"
        too_many = await lifecycle.get(f"/v1/customers/{customer}/events", params={"limit": 0})
        assert (
            too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "query.limit"
        )
        unknown = await lifecycle.get(f"/v1/customers/{new_customer('nobody')}/events")
        assert unknown.status_code == 404
    async with _client(services["lifecycle"], key_factory(["customers:read"])) as lifecycle:
        redacted = await _timeline(lifecycle, customer, len(events))
    assert redacted["items"][0]["data"] == {"locale": "[redacted]", "name": "[redacted]"}
    assert redacted["items"][0]["redacted"] is True
    assert "Tim Line" not in str(redacted)


async def test_the_export_holds_what_every_service_keeps_of_the_customer(
    services: dict[str, ServiceProcess],
    ingest_client: httpx.AsyncClient,
    admin_key: str,
    key_factory: Callable[[list[str]], str],
) -> None:
    customer = new_customer("export")
    email = f"export.{TOKEN}@example.com"
    segment = f"export-{TOKEN}"
    async with _client(services["audiences"], admin_key) as audiences:
        resp = await audiences.post(
            "/v1/segments", json={"name": segment, "filter": {"field": "locale", "eq": "en"}}
        )
    assert resp.status_code == 201, resp.text
    events = [
        profile(customer, NOW - timedelta(days=3), name="Exa Port", email=email, locale="en"),
        purchase(customer, NOW - timedelta(days=1), amount="120.00"),
    ]
    await _post(ingest_client, events)

    async def messages() -> list[Any] | None:  # a first purchase starts new_customer
        async with _client(services["notify"], admin_key) as notify:
            resp = await notify.get(f"/v1/customers/{customer}/messages")
        return resp.json() if resp.status_code == 200 and resp.json() else None

    await eventually(messages, timeout=90, interval=0.5, what="notify's messages")

    async def export() -> dict[str, Any] | None:
        async with _client(services["lifecycle"], admin_key) as lifecycle:
            resp = await lifecycle.get(f"/v1/customers/{customer}/export")
        if resp.status_code != 200:
            return None
        body: dict[str, Any] = resp.json()
        complete = (
            body["lifecycle"]["state"] is not None
            and body["scoring"]["scores"] is not None
            and len(body["scoring"]["purchases"]) == 1
            and body["notify"]["customer"] is not None
            and body["notify"]["customer"]["email"] == email
            and body["notify"]["messages"]
            and body["notify"]["outcomes"]
            and body["audiences"]["customer"] is not None
            and body["audiences"]["memberships"]
        )
        return body if complete else None

    body = await eventually(export, timeout=90, interval=0.5, what="a complete export")
    assert body["customer_id"] == customer
    assert body["profile"]["email"]["value"] == email
    assert body["profile"]["email"]["event_id"] == events[0]["event_id"]
    assert body["lifecycle"]["state"]["stage"] == "development"
    assert [t["to_stage"] for t in body["lifecycle"]["history"] if t.get("kind") == "stage"] == [
        "acquisition",
        "development",
    ]
    assert [e["event_id"] for e in body["lifecycle"]["events"]] == [e["event_id"] for e in events]
    assert body["scoring"]["purchases"][0]["event_id"] == events[1]["event_id"]
    assert {m["playbook"] for m in body["notify"]["messages"]} == {"new_customer"}
    purchases = [o for o in body["notify"]["outcomes"] if o["kind"] == "purchase"]
    assert [o["event_id"] for o in purchases] == [events[1]["event_id"]]
    assert "lifecycle_contact_keys" in body["sources"]
    assert body["audiences"]["customer"]["locale"] == "en"
    assert segment in {m["segment"] for m in body["audiences"]["memberships"]}
    assert body["sources"]["audience_members"] == "audiences.memberships"
    for scopes in (["customers:read"], ["customers:read", "scores:read", "notify:read"]):
        async with _client(services["lifecycle"], key_factory(scopes)) as lifecycle:
            resp = await lifecycle.get(f"/v1/customers/{customer}/export")
        assert resp.status_code == 403, resp.text
    async with _client(services["lifecycle"], key_factory(["pii:read"])) as lifecycle:
        assert (await lifecycle.get(f"/v1/customers/{customer}/export")).status_code == 200
        unknown = await lifecycle.get(f"/v1/customers/{new_customer('nobody')}/export")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    async with _client(services["audiences"], admin_key) as audiences:
        assert (await audiences.delete(f"/v1/segments/{segment}")).status_code == 204


async def test_an_erased_customer_is_neither_found_nor_exported(
    services: dict[str, ServiceProcess],
    ingest_client: httpx.AsyncClient,
    admin_key: str,
    infra: Infrastructure,
) -> None:
    customer = new_customer("erase-access")
    email = f"gone.{TOKEN}@example.com"
    phone, phone_key = _phone()
    await _post(ingest_client, [profile(customer, name=f"Gone {TOKEN}", email=email, phone=phone)])
    async with _client(services["lifecycle"], admin_key) as lifecycle:
        await _found(lifecycle, {"email": email}, 1)
        assert (await lifecycle.get(f"/v1/customers/{customer}/export")).status_code == 200
        assert (await lifecycle.delete(f"/v1/customers/{customer}")).status_code == 204
        for body in ({"email": email}, {"phone": phone}, {"name": f"gone {TOKEN}"}):
            resp = await lifecycle.post("/v1/customers/search", json=body)
            assert resp.status_code == 200 and resp.json()["items"] == [], body
        assert (await lifecycle.get(f"/v1/customers/{customer}/export")).status_code == 404
        assert (await lifecycle.get(f"/v1/customers/{customer}/events")).status_code == 404
    engine = create_async_engine(infra.database_url)
    try:
        async with engine.connect() as conn:
            left = await conn.scalar(
                sa.text("SELECT count(*) FROM lifecycle_contact_keys WHERE phone = :p"),
                {"p": phone_key},
            )
    finally:
        await engine.dispose()
    assert left == 0


@pytest.mark.parametrize(
    ("search", "index"),
    [
        ({"email": "Ann.Lee@Example.com"}, "ix_lifecycle_contact_keys_email"),
        ({"email": "ann.", "match": "prefix"}, "ix_lifecycle_contact_keys_email"),
        ({"phone": "+86 139", "match": "prefix"}, "ix_lifecycle_contact_keys_phone"),
        ({"name": "Ann Lee"}, "ix_lifecycle_contact_keys_name"),
        ({"name": "ann", "match": "prefix"}, "ix_lifecycle_contact_keys_name"),
    ],
)
async def test_each_lookup_reads_its_index(
    infra: Infrastructure, search: dict[str, Any], index: str
) -> None:
    # Sequential scans are priced out, so the plan shows whether the index can serve the
    # lookup at all (on a small test table the planner would scan it either way). The page's
    # order and cursor are left out: with them, walking the primary key in order is a valid
    # plan too, chosen or not by the table's statistics.
    query = sa.select(contact_keys.c.customer_id).where(*conditions(CustomerSearch(**search)))
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    engine = create_async_engine(infra.database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(r[0] for r in await conn.execute(sa.text(f"EXPLAIN {sql}")))
    finally:
        await engine.dispose()
    assert index in plan, plan
