"""The launcher behind `make run` / `make stop`: every service up and ready, URLs, logs and a
working development key printed; a second start is harmless; stop ends exactly what it started.

It runs in a state folder and on ports of its own, against the test broker and database (the
launcher uses them when KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL are set, as for any server).
"""

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.infra import Infrastructure
from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("ingest", "lifecycle", "scoring", "notify", "dashboard", "audiences")


@pytest.fixture
def launcher_env(infra: Infrastructure, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {
        **os.environ,
        "CLM_STATE_DIR": str(tmp_path / "state"),
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "DATABASE_URL": infra.database_url,
        "CLM_INGEST_WORKERS": "1",
        "CLM_SINK_SMTP_PORT": str(free_port()),
        "CLM_SINK_HTTP_PORT": str(free_port()),
        **{f"CLM_{name.upper()}_PORT": str(free_port()) for name in NAMES},
    }
    yield env
    _stack("down", env)  # also after a failure: nothing left running


def _stack(command: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "deploy/local/stack.py", command],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, f"stack.py {command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _pids(env: dict[str, str]) -> dict[str, int]:
    folder = Path(env["CLM_STATE_DIR"]) / "pids"
    return {name: int((folder / f"{name}.pid").read_text()) for name in NAMES}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child that exited but was not reaped yet is a zombie: gone for our purposes.
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def _status(url: str, key: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_up_twice_then_down(launcher_env: dict[str, str]) -> None:
    env = launcher_env
    ports = {name: env[f"CLM_{name.upper()}_PORT"] for name in NAMES}

    first = _stack("up", env)
    for name, port in ports.items():
        assert f"http://127.0.0.1:{port}/docs" in first
        assert f"{name}.log" in first
        assert _status(f"http://127.0.0.1:{port}/readyz") == 200
    key = first.split("development API key (every scope): ")[1].split()[0]
    assert _status(f"http://127.0.0.1:{ports['lifecycle']}/v1/stats/stages", key) == 200
    assert _status(f"http://127.0.0.1:{ports['lifecycle']}/v1/stats/stages", "wrong") == 401
    started = _pids(env)

    second = _stack("up", env)
    assert all(f"{name} already running" in second for name in NAMES)
    assert _pids(env) == started, "a second start must not spawn new processes"
    assert f"development API key (every scope): {key}" in second

    _stack("down", env)
    assert not any(_alive(pid) for pid in started.values())
    for port in ports.values():
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
