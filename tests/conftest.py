"""Session fixtures: the real Kafka and PostgreSQL, migrations, API keys, running services."""

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.infra import Infrastructure, resolve
from tests.support.services import ServiceProcess, free_port, service_client

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
    # The dashboard runs last, so that on a fresh database it shows the scoring tests' model
    # (parameters, predicted vs actual) and their customers, not empty panels.
    items.sort(key=lambda item: item.fspath.basename == "test_dashboard.py")


@pytest.fixture(scope="session")
def infra() -> Infrastructure:
    found = resolve()
    env = {**os.environ, "DATABASE_URL": found.database_url}
    subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), "upgrade", "head"],
        check=True, env=env, cwd=ROOT,
    )  # fmt: skip
    from shared.kafka_admin import ensure_topics

    asyncio.run(ensure_topics(found.kafka_bootstrap, 12))
    return found


@pytest.fixture(scope="session")
def service_env(infra: Infrastructure) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "DATABASE_URL": infra.database_url,
        "CLM_ENVIRONMENT": "test",
    }


def _register(infra: Infrastructure, name: str, scopes: list[str]) -> str:
    key = f"clm_test_{secrets.token_urlsafe(18)}"
    args = ["--all-scopes"] if scopes == ["*"] else [a for s in scopes for a in ("--scope", s)]
    subprocess.run(
        [sys.executable, "-m", "shared.apikeys_cli", "register", "--name", name, "--key", key, *args],
        check=True, cwd=ROOT, env={**os.environ, "DATABASE_URL": infra.database_url},
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return key


@pytest.fixture(scope="session")
def admin_key(infra: Infrastructure) -> str:
    return _register(infra, "test-admin", ["*"])


@pytest.fixture(scope="session")
def key_factory(infra: Infrastructure) -> Callable[[list[str]], str]:
    return lambda scopes: _register(infra, "test-limited", scopes)


# Every service process the tests start, in order, and those that serve the whole session.
_STARTED: list[ServiceProcess] = []
_SESSION_WIDE: set[int] = set()


@pytest.fixture(scope="session")
def start_service(service_env: dict[str, str]) -> Iterator[Callable[..., ServiceProcess]]:
    def start(
        name: str, *, ready_within: float = 60.0, port: int | None = None, **extra_env: str
    ) -> ServiceProcess:
        # `port`: chosen beforehand when another service must be told the address first.
        proc = ServiceProcess(name, port or free_port(), {**service_env, **extra_env})
        _STARTED.append(proc)  # before it is ready: a start that times out is still stopped
        return proc.start(ready_within)

    yield start
    for proc in _STARTED:
        proc.stop()


@pytest.fixture(scope="module", autouse=True)
def _stop_the_modules_services() -> Iterator[None]:
    """A module's services stop when the module ends: left running, each kept consuming every
    later module's events (CPU the later tests' deadlines need) and its senders and schedulers
    acted on their rows."""
    before = len(_STARTED)
    yield
    for proc in _STARTED[before:]:
        if id(proc) not in _SESSION_WIDE:
            proc.stop()


@pytest.fixture(scope="session")
def ingest(start_service: Callable[..., ServiceProcess]) -> ServiceProcess:
    proc = start_service("ingest")
    _SESSION_WIDE.add(id(proc))
    return proc


@pytest.fixture
async def ingest_client(ingest: ServiceProcess, admin_key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client(ingest, admin_key) as client:
        yield client
