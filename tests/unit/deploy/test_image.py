"""The image (issue 18, item 5): multi-stage, a pinned base, runtime dependencies only, the CLI
included, the services' ports exposed, and a .dockerignore that keeps the context small."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DEV_ONLY = ("pytest", "mypy", "ruff", "selenium", "hypothesis", "testcontainers")


def _pins(lock: str) -> set[str]:
    return {m.group(1).lower() for m in re.finditer(r"^([A-Za-z0-9_.-]+)==", lock, re.M)}


def test_the_dockerfile_is_multi_stage_pinned_and_complete() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+) AS (\S+)", text, re.M)
    assert {name for _, name in stages} >= {"build", "runtime"}
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)", text, re.M)
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base[1])
    assert "COPY clm_cli ./clm_cli" in text
    assert "requirements.runtime.lock" in text and "-r requirements.lock" not in text
    assert re.search(r"^EXPOSE 8001 8002 8003 8004 8005 8006$", text, re.M)
    assert re.search(r"^USER 10001$", text, re.M)


def test_the_runtime_lock_has_no_development_tools_and_agrees_with_the_full_lock() -> None:
    runtime = (ROOT / "requirements.runtime.lock").read_text()
    full = (ROOT / "requirements.lock").read_text()
    assert not _pins(runtime) & set(DEV_ONLY)
    versions = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", full, re.M))
    for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", runtime, re.M):
        assert versions.get(name) == version, f"{name} {version} differs from requirements.lock"


def test_the_build_context_leaves_out_state_and_virtualenvs() -> None:
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert "*" in ignore  # everything out, then only what the build copies back in
    for needed in (
        "!shared/",
        "!services/",
        "!clm_cli/",
        "!migrations/",
        "!requirements.runtime.lock",
    ):
        assert needed in ignore
    assert "!.venv/" not in ignore and "!.state/" not in ignore
