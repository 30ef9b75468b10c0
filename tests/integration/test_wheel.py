"""The wheel is a complete service (issue 18, item 5): built from the project, installed in a
fresh virtualenv (runtime dependencies from requirements.runtime.lock), it carries its data
files (rules, playbooks, templates, the dashboard page) and a service started from it, outside
the checkout, answers /healthz; the `clm` CLI is installed with it."""

import http.client
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.support.infra import Infrastructure
from tests.support.services import ROOT, free_port

DATA_FILES = (
    "services/lifecycle/rules.default.yaml",
    "services/dashboard/dashboard_page.html",
    "services/notify/playbooks.default.yaml",
    "services/notify/templates.default.yaml",
)


def _run(*args: str, cwd: Path = ROOT) -> None:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{args}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"
    # sdist first, the wheel from it (in a temporary folder): no build/ left in the checkout.
    _run(uv, "build", "--out-dir", str(work / "dist"), str(ROOT))
    [wheel] = (work / "dist").glob("clm-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [f for f in DATA_FILES if f not in names]
    assert not missing, f"the wheel lacks {missing}"
    venv = work / "venv"
    _run(uv, "venv", "--python", sys.executable, str(venv))
    python = venv / "bin" / "python"
    _run(
        uv, "pip", "install", "--python", str(python), "-r", str(ROOT / "requirements.runtime.lock")
    )
    _run(uv, "pip", "install", "--python", str(python), "--no-deps", str(wheel))
    return venv


def test_a_service_from_the_wheel_answers_healthz(
    installed: Path, infra: Infrastructure, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        "PATH": f"{installed / 'bin'}:{os.environ['PATH']}",
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "DATABASE_URL": infra.database_url,
        "CLM_ENVIRONMENT": "test",
    }
    log = open(tmp_path / "lifecycle.log", "wb")
    # Lifecycle reads its default rules (YAML) from the package.
    proc = subprocess.Popen(
        [str(installed / "bin" / "uvicorn"), "services.lifecycle.app:app", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline, status = time.monotonic() + 90, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    status = r.status
                    break
            except OSError:
                time.sleep(0.5)
        assert status == 200, (tmp_path / "lifecycle.log").read_text()[-3000:]
        # Its old dashboard path redirects to the dashboard service (its page is in the
        # package: DATA_FILES).
        moved = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        moved.request("GET", "/dashboard")
        answer = moved.getresponse()
        assert answer.status == 307 and answer.getheader("location", "").endswith("/dashboard")
        moved.close()
    finally:
        proc.terminate()
        proc.wait(20)
    version = subprocess.run(
        [str(installed / "bin" / "clm"), "--version"], capture_output=True, text=True, cwd=tmp_path
    )
    assert version.returncode == 0 and version.stdout.startswith("clm "), version.stderr
