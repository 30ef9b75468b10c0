"""A Python client generated from each running service's /openapi.json (openapi-python-client,
pinned in tools/openapi-client) drives that service: successes parse into the documented
models, and 401, 403, 404 and 422 into the one typed `Problem`."""

import copy
import importlib
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from services.ingest.examples import EVENT_EXAMPLES
from tests.support.polling import eventually
from tests.support.services import ServiceProcess

# Four services, four generated clients and the consumers' first batches: minutes when busy.
pytestmark = pytest.mark.timeout(900)
ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "tools" / "openapi-client" / ".venv" / "bin" / "openapi-python-client"


class Generated:
    """The generated package of one service: `api("lifecycle.get_customer")`, `model("Problem")`."""

    def __init__(self, package: str) -> None:
        self.package = package

    def api(self, name: str) -> ModuleType:
        return importlib.import_module(f"{self.package}.api.{name}")

    def model(self, name: str) -> Any:
        return getattr(importlib.import_module(f"{self.package}.models"), name)

    def client(self, base_url: str, key: str | None) -> Any:
        module = importlib.import_module(self.package)
        if key is None:
            return module.Client(base_url=base_url, raise_on_unexpected_status=True)
        return module.AuthenticatedClient(
            base_url=base_url, token=key, raise_on_unexpected_status=True
        )


@pytest.fixture(scope="module")
def generate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Generated]]:
    if not GENERATOR.exists():
        pytest.fail(f"{GENERATOR} is missing: run `make venv`")
    out = tmp_path_factory.mktemp("clients")
    sys.path.insert(0, str(out))

    def run(service: ServiceProcess) -> Generated:
        package = f"clm_{service.name}_client_{uuid.uuid4().hex[:6]}"
        spec = out / f"{package}.json"
        spec.write_bytes(httpx.get(f"{service.url}/openapi.json", timeout=30).content)
        config = out / f"{package}.yaml"
        config.write_text(f"package_name_override: {package}\npost_hooks: []\n")
        done = subprocess.run(
            [str(GENERATOR), "generate", "--path", str(spec), "--config", str(config),
             "--meta", "none", "--output-path", str(out / package)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        # Every schema and operation of the document became code: no warning, nothing skipped.
        assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
        return Generated(package)

    yield run
    sys.path.remove(str(out))


@pytest.fixture(scope="module")
def services(start_service: Callable[..., ServiceProcess]) -> dict[str, ServiceProcess]:
    # A generous publish timeout: a batch's first transaction on a busy machine takes seconds.
    ingest = start_service("ingest", ready_within=240, CLM_INGEST_PUBLISH_TIMEOUT_SECONDS="60")
    # Only what the clients read runs: no refit (a model made mid-session would score every
    # later test's customers) and no notify consumers or sender (they would act on, and send,
    # other tests' messages for the whole session).
    quiet = {
        "lifecycle": {},
        "scoring": {"CLM_SCORING_REFIT_INTERVAL_HOURS": "0"},
        "notify": {
            "CLM_NOTIFY_RUN_CONSUMER": "false",
            "CLM_NOTIFY_RUN_SCORES_CONSUMER": "false",
            "CLM_NOTIFY_RUN_SENDER": "false",
            "CLM_NOTIFY_RUN_CALENDAR": "false",
        },
    }
    others = {name: start_service(name, ready_within=240, **env) for name, env in quiet.items()}
    return {"ingest": ingest, **others}


def _assert_problem(generated: Generated, response: Any, status: int) -> Any:
    assert response.status_code == status, response.content
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.parsed
    assert isinstance(problem, generated.model("Problem")), problem
    assert problem.status == status and problem.title and problem.detail
    return problem


def _event(kind: str, customer_id: str, **data: Any) -> dict[str, Any]:
    event = copy.deepcopy(EVENT_EXAMPLES[kind])
    event |= {"event_id": f"gen-{uuid.uuid4().hex}", "customer_id": customer_id}
    event["data"] |= data
    return event


async def test_a_client_generated_from_ingest_posts_events_and_reads_every_problem(
    services: dict[str, ServiceProcess],
    generate: Callable[..., Generated],
    admin_key: str,
    key_factory: Callable[[list[str]], str],
) -> None:
    gen, url = generate(services["ingest"]), services["ingest"].url
    post_event, post_batch = gen.api("events.post_event"), gen.api("events.post_batch")
    purchase = gen.model("PurchaseEvent")
    body = purchase.from_dict(_event("purchase", f"gen-{uuid.uuid4().hex[:8]}"))

    accepted = await post_event.asyncio_detailed(client=gen.client(url, admin_key), body=body)
    assert accepted.status_code == 202
    assert isinstance(accepted.parsed, gen.model("Accepted"))
    assert accepted.parsed.event_ids == [body.event_id]

    batch = gen.model("BatchBody").from_dict(
        {"events": [_event(kind, "gen-batch") for kind in EVENT_EXAMPLES]}
    )
    answer = await post_batch.asyncio_detailed(client=gen.client(url, admin_key), body=batch)
    assert answer.status_code == 202 and answer.parsed.accepted == len(EVENT_EXAMPLES)

    unauthenticated = await post_event.asyncio_detailed(client=gen.client(url, None), body=body)
    _assert_problem(gen, unauthenticated, 401)
    unknown_key = await post_event.asyncio_detailed(client=gen.client(url, "nope"), body=body)
    _assert_problem(gen, unknown_key, 401)
    reader = key_factory(["customers:read"])
    _assert_problem(
        gen, await post_event.asyncio_detailed(client=gen.client(url, reader), body=body), 403
    )

    invalid = purchase.from_dict(_event("purchase", "gen-invalid", amount="-5"))
    problem = _assert_problem(
        gen, await post_event.asyncio_detailed(client=gen.client(url, admin_key), body=invalid), 422
    )
    assert [(e.field, e.code) for e in problem.errors] == [("data.amount", "greater_than_equal")]
    bad_batch = gen.model("BatchBody").from_dict(
        {"events": [_event("purchase", "gen-b"), _event("purchase", "gen-b", amount="-1")]}
    )
    problem = _assert_problem(
        gen,
        await post_batch.asyncio_detailed(client=gen.client(url, admin_key), body=bad_batch),
        422,
    )
    assert [e.index for e in problem.errors] == [1]


async def test_clients_generated_from_lifecycle_and_scoring_read_a_customer_and_every_problem(
    services: dict[str, ServiceProcess],
    generate: Callable[..., Generated],
    admin_key: str,
    key_factory: Callable[[list[str]], str],
) -> None:
    customer = f"gen-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=services["ingest"].url) as ingest:
        posted = await ingest.post(
            "/v1/events", json=_event("purchase", customer),
            headers={"Authorization": f"Bearer {admin_key}"},
        )  # fmt: skip
        assert posted.status_code == 202

    lifecycle, lifecycle_url = generate(services["lifecycle"]), services["lifecycle"].url
    get_customer = lifecycle.api("lifecycle.get_customer")
    client = lifecycle.client(lifecycle_url, admin_key)

    async def known() -> Any:
        answer = await get_customer.asyncio_detailed(customer, client=client)
        return answer if answer.status_code == 200 else None

    state = (await eventually(known, timeout=60, what="lifecycle state")).parsed
    assert isinstance(state, lifecycle.model("CustomerState"))
    assert state.customer_id == customer and state.purchase_occasions == 1
    _assert_problem(
        lifecycle, await get_customer.asyncio_detailed("gen-nobody", client=client), 404
    )
    anonymous = lifecycle.client(lifecycle_url, None)
    _assert_problem(lifecycle, await get_customer.asyncio_detailed(customer, client=anonymous), 401)
    scores_only = lifecycle.client(lifecycle_url, key_factory(["scores:read"]))
    _assert_problem(
        lifecycle, await get_customer.asyncio_detailed(customer, client=scores_only), 403
    )
    listing = lifecycle.api("lifecycle.list_customers")
    problem = _assert_problem(
        lifecycle, await listing.asyncio_detailed(client=client, limit=0), 422
    )
    assert [e.field for e in problem.errors] == ["query.limit"]

    scoring, scoring_url = generate(services["scoring"]), services["scoring"].url
    customer_scores = scoring.api("scores.customer_scores")
    client = scoring.client(scoring_url, admin_key)

    async def scored() -> Any:
        answer = await customer_scores.asyncio_detailed(customer, client=client)
        return answer if answer.status_code == 200 else None

    scores = (await eventually(scored, timeout=60, what="scores")).parsed
    assert isinstance(scores, scoring.model("CustomerScores"))
    assert scores.customer_id == customer and scores.statistics.purchase_occasions == 1
    assert scores.historical_value == pytest.approx(249.0)
    _assert_problem(
        scoring, await customer_scores.asyncio_detailed("gen-nobody", client=client), 404
    )
    anonymous = scoring.client(scoring_url, None)
    _assert_problem(
        scoring, await customer_scores.asyncio_detailed(customer, client=anonymous), 401
    )
    reader = scoring.client(scoring_url, key_factory(["customers:read"]))
    _assert_problem(scoring, await customer_scores.asyncio_detailed(customer, client=reader), 403)
    forecast = scoring.api("scores.forecast")
    problem = _assert_problem(
        scoring, await forecast.asyncio_detailed(client=client, horizon=-1), 422
    )
    assert [e.field for e in problem.errors] == ["query.horizon"]
    retention = scoring.api("models.retention")
    fitted = await retention.asyncio_detailed(
        client=client,
        body=scoring.model("RetentionRequest").from_dict({"survivors": [1000, 631, 468, 382]}),
    )
    assert fitted.status_code == 200 and isinstance(fitted.parsed, scoring.model("RetentionOut"))
    assert len(fitted.parsed.projected_survivors) == 4 + 12  # the 4 given, 12 projected


async def test_a_client_generated_from_notify_sets_and_reads_preferences_and_every_problem(
    services: dict[str, ServiceProcess],
    generate: Callable[..., Generated],
    admin_key: str,
    key_factory: Callable[[list[str]], str],
) -> None:
    notify, url = generate(services["notify"]), services["notify"].url
    put, get = notify.api("notify.put_preferences"), notify.api("notify.get_preferences")
    client, customer = notify.client(url, admin_key), f"gen-{uuid.uuid4().hex[:8]}"
    choice = notify.model("PreferencesIn").from_dict({"email": False})

    changed = await put.asyncio_detailed(customer, client=client, body=choice)
    assert changed.status_code == 200 and isinstance(changed.parsed, notify.model("PreferencesOut"))
    read = (await get.asyncio_detailed(customer, client=client)).parsed
    assert read.preferences.additional_properties == {"email": False}
    assert read.effective.additional_properties["email"] is False

    _assert_problem(notify, await get.asyncio_detailed("gen-nobody", client=client), 404)
    _assert_problem(
        notify, await get.asyncio_detailed(customer, client=notify.client(url, None)), 401
    )
    writer_only = notify.client(url, key_factory(["notify:write"]))
    _assert_problem(notify, await get.asyncio_detailed(customer, client=writer_only), 403)
    nothing = notify.model("PreferencesIn").from_dict({})
    problem = _assert_problem(
        notify, await put.asyncio_detailed(customer, client=client, body=nothing), 422
    )
    assert [e.field for e in problem.errors] == ["(body)"]
