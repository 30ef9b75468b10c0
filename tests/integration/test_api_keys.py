"""API keys: created, listed and revoked by the admin API and by `clm keys`; a revoked key is
refused (401) within a second by every running instance, not after a 30 s cache life."""

import asyncio
import os
import re
import sys
import time
from collections.abc import Callable

import httpx
import pytest

from tests.support.factories import new_customer, purchase
from tests.support.infra import Infrastructure
from tests.support.services import ROOT, ServiceProcess

REVOCATION_BOUND_SECONDS = 1.0


@pytest.fixture(scope="module")
def second_ingest(start_service: Callable[..., ServiceProcess]) -> ServiceProcess:
    """Another instance: it learns of a revocation only through the database."""
    return start_service("ingest")


async def _posts(url: str, key: str) -> int:
    async with httpx.AsyncClient(timeout=10) as http:
        resp = await http.post(
            f"{url}/v1/events",
            json=purchase(new_customer("keys")),
            headers={"Authorization": f"Bearer {key}"},
        )
        return resp.status_code


async def _refused_within(url: str, key: str, bound: float) -> float:
    """Seconds from now until the first request that gets 401 was sent; fails when a request
    sent `bound` seconds or more after now is still accepted."""
    started = time.monotonic()
    while True:
        sent = time.monotonic() - started
        status = await _posts(url, key)
        if status == 401:
            return sent
        assert sent < bound, f"a request sent {sent:.2f} s after the revocation got {status}"
        await asyncio.sleep(0.02)


async def test_a_key_revoked_by_the_admin_api_is_refused_everywhere_within_a_second(
    ingest: ServiceProcess, second_ingest: ServiceProcess, admin_key: str
) -> None:
    admin = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=ingest.url, headers=admin, timeout=30) as http:
        created = await http.post("/v1/api-keys", json={"name": "pos", "scopes": ["events:write"]})
        assert created.status_code == 201, created.text
        key, key_id = created.json()["key"], created.json()["id"]
        # Both instances have it cached as valid.
        assert await _posts(ingest.url, key) == 202
        assert await _posts(second_ingest.url, key) == 202
        listed = (await http.get("/v1/api-keys")).json()["items"]
        assert {"id": key_id, "name": "pos", "revoked_at": None} in [
            {k: i[k] for k in ("id", "name", "revoked_at")} for i in listed
        ]

        revoked = await http.delete(f"/v1/api-keys/{key_id}")
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["revoked_at"] is not None
        elapsed = await _refused_within(second_ingest.url, key, REVOCATION_BOUND_SECONDS)
        assert await _posts(ingest.url, key) == 401
        assert elapsed < REVOCATION_BOUND_SECONDS

        assert (await http.delete("/v1/api-keys/0123456789abcdef")).status_code == 404
        # The admin API needs the admin scope: the revoked writer key cannot list keys, nor
        # can a key that only writes events.
        writer = (
            await http.post("/v1/api-keys", json={"name": "w", "scopes": ["events:write"]})
        ).json()["key"]
        forbidden = await http.get("/v1/api-keys", headers={"Authorization": f"Bearer {writer}"})
        assert forbidden.status_code == 403
        bad = await http.post("/v1/api-keys", json={"name": "x", "scopes": ["root"]})
        assert bad.status_code == 422
        assert "scopes" in bad.json()["errors"][0]["field"]


async def _clm(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "clm_cli.main", *args,
        cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_clm_keys_create_list_and_revoke(
    infra: Infrastructure, ingest: ServiceProcess, second_ingest: ServiceProcess
) -> None:
    env = {**os.environ, "DATABASE_URL": infra.database_url, "COLUMNS": "250"}
    code, out, err = await _clm(
        env, "keys", "create", "--name", "cli-made", "--scope", "events:write"
    )
    assert code == 0, err
    key = out.strip()
    created = re.search(r"Created key ([0-9a-f]{16})", err)
    assert created, err
    key_id = created.group(1)
    assert await _posts(second_ingest.url, key) == 202

    code, out, err = await _clm(env, "keys", "list")
    assert code == 0, err
    assert any(key_id in line and "cli-made" in line for line in out.splitlines()), out

    code, out, err = await _clm(env, "keys", "revoke", key_id)
    assert code == 0, err
    await _refused_within(second_ingest.url, key, REVOCATION_BOUND_SECONDS)

    code, _, err = await _clm(env, "keys", "create", "--name", "x", "--scope", "root")
    assert code == 2 and "unknown scope" in err.lower(), err
    code, _, err = await _clm(env, "keys", "revoke", "0123456789abcdef")
    assert code == 1 and "no api key" in err.lower(), err


async def test_registering_without_database_url_is_a_sentence_and_exit_2() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.apikeys_cli", "register", "--name", "n", "--all-scopes",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert "DATABASE_URL is not set" in err.decode()
    assert "Traceback" not in err.decode() and out == b""
