"""Customer ids: ingest refuses ids outside the documented grammar with 422; every id it
accepts is read, listed and erased by its own URL on lifecycle, scoring and notify; no URL
addresses another customer's data (an encoded '/' never reaches a route)."""

import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from tests.support.factories import purchase
from tests.support.infra import Infrastructure
from tests.support.own_groups import start_with_own_groups
from tests.support.polling import eventually
from tests.support.services import ServiceProcess

GROUP = f"ids-{uuid.uuid4().hex[:8]}"
REFUSED = [
    "victim/history", "a/b", "100%", "a%2Fb", "..", ".hidden", "-x", "a b", " lead",
    "zoë", "客户42", "<script>alert(1)</script>", "a?b", "a#b", "a\\b", "",
]  # fmt: skip


@pytest.fixture(scope="module")
async def services(
    infra: Infrastructure, start_service: Callable[..., ServiceProcess]
) -> AsyncIterator[dict[str, ServiceProcess]]:
    procs = await start_with_own_groups(
        infra.kafka_bootstrap, start_service, GROUP, CLM_LIFECYCLE_RUN_SCHEDULER="false"
    )
    yield procs
    # Their consumer groups are this module's own: left running, they would apply the other
    # modules' events a second time into the same tables.
    for proc in procs.values():
        proc.stop()


@pytest.mark.parametrize("customer_id", REFUSED)
async def test_an_id_outside_the_grammar_is_refused_with_422(
    ingest_client: httpx.AsyncClient, customer_id: str
) -> None:
    resp = await ingest_client.post("/v1/events", json=purchase(customer_id))
    assert resp.status_code == 422, resp.text
    assert [e["field"] for e in resp.json()["errors"]] == ["customer_id"]


async def test_an_encoded_slash_never_reads_another_customers_data(
    services: dict[str, ServiceProcess], ingest_client: httpx.AsyncClient, admin_key: str
) -> None:
    victim = f"victim{uuid.uuid4().hex[:8]}"
    assert (await ingest_client.post("/v1/events", json=purchase(victim))).status_code == 202
    headers = {"Authorization": f"Bearer {admin_key}"}
    lifecycle = services["lifecycle"]
    async with httpx.AsyncClient(base_url=lifecycle.url, headers=headers, timeout=30) as http:

        async def known() -> bool:
            return (await http.get(f"/v1/customers/{victim}/history")).status_code == 200

        await eventually(known, timeout=60, what="lifecycle to know the victim")
        for name, url in {
            "lifecycle": f"{lifecycle.url}/v1/customers/{victim}%2Fhistory",
            "lifecycle lower": f"{lifecycle.url}/v1/customers/{victim}%2fhistory",
            "scoring": f"{services['scoring'].url}/v1/customers/{victim}%2Fscores",
            "notify": f"{services['notify'].url}/v1/customers/{victim}%2Fpreferences",
        }.items():
            resp = await http.get(httpx.URL(url))
            assert resp.status_code == 404, f"{name}: {resp.text}"
            assert resp.headers["content-type"] == "application/problem+json", name
            assert not {"transitions", "stage", "preferences"} & set(resp.json()), name


async def test_every_accepted_id_is_read_listed_and_erased_by_its_own_url(
    services: dict[str, ServiceProcess], ingest_client: httpx.AsyncClient, admin_key: str
) -> None:
    prefix = f"ids{uuid.uuid4().hex[:10]}"
    ids = [f"{prefix}{suffix}" for suffix in ("", ".a", "_b", "-c", ":d", "@shop.example", "+eu")]
    resp = await ingest_client.post("/v1/events/batch", json={"events": [purchase(c) for c in ids]})
    assert resp.status_code == 202, resp.text
    headers = {"Authorization": f"Bearer {admin_key}"}
    lifecycle, scoring, notify = (services[n].url for n in ("lifecycle", "scoring", "notify"))
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        for customer in ids:

            async def everywhere(customer: str = customer) -> bool:
                state = await http.get(f"{lifecycle}/v1/customers/{customer}")
                scores = await http.get(f"{scoring}/v1/customers/{customer}/scores")
                return state.status_code == scores.status_code == 200

            await eventually(everywhere, timeout=60, what=f"{customer} read by its own URL")
            state = (await http.get(f"{lifecycle}/v1/customers/{customer}")).json()
            assert state["customer_id"] == customer
            history = (await http.get(f"{lifecycle}/v1/customers/{customer}/history")).json()
            assert history["customer_id"] == customer
            assert history["transitions"], customer
            put = await http.put(
                f"{notify}/v1/customers/{customer}/preferences", json={"email": False}
            )
            assert put.status_code == 200, put.text
            prefs = await http.get(f"{notify}/v1/customers/{customer}/preferences")
            assert prefs.json()["customer_id"] == customer
            messages = await http.get(f"{notify}/v1/customers/{customer}/messages")
            assert messages.json()["customer_id"] == customer

        page = await http.get(
            f"{lifecycle}/v1/customers", params={"cursor": prefix[:-1], "limit": 1000}
        )
        listed = {item["customer_id"] for item in page.json()["items"]}
        assert set(ids) <= listed

        for customer in ids:
            erased = await http.delete(f"{lifecycle}/v1/customers/{customer}")
            assert erased.status_code == 204, erased.text
            assert (await http.get(f"{lifecycle}/v1/customers/{customer}")).status_code == 404

            # Scoring and notify erase their own rows when they read the tombstone.
            async def gone(customer: str = customer) -> bool:
                scores = await http.get(f"{scoring}/v1/customers/{customer}/scores")
                prefs = await http.get(f"{notify}/v1/customers/{customer}/preferences")
                return scores.status_code == prefs.status_code == 404

            await eventually(gone, timeout=30, what=f"{customer} erased by scoring and notify")
