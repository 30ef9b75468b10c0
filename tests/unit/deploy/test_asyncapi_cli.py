"""docs/asyncapi.yaml is valid AsyncAPI 3 under the official CLI (@asyncapi/cli, pinned in
tools/asyncapi/package.json and installed by `make venv`)."""

import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
CLI = ROOT / "tools" / "asyncapi" / "node_modules" / ".bin" / "asyncapi"
DOCUMENT = ROOT / "docs" / "asyncapi.yaml"


def _cli() -> Path:
    if not CLI.exists():
        message = f"{CLI} is missing: run `make venv` (npm ci in tools/asyncapi)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return CLI


def test_the_official_cli_validates_the_document_without_errors_or_warnings(
    tmp_path: Path,
) -> None:
    # Analytics off (the CLI would otherwise write ~/.asyncapi-analytics and call home).
    analytics = tmp_path / "asyncapi-analytics.json"
    analytics.write_text('{"analyticsEnabled": "false", "infoMessageShown": "true", "userID": "-"}')
    env = {
        **os.environ,
        "ASYNCAPI_METRICS_CONFIG_PATH": str(analytics),
        "SUPPRESS_NO_CONFIG_WARNING": "1",
        "NO_COLOR": "1",
    }
    done = subprocess.run(
        [str(_cli()), "validate", str(DOCUMENT), "--fail-severity", "warn"],
        capture_output=True, text=True, timeout=240, env=env, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_topic_has_its_senders_and_receivers_and_a_server() -> None:
    document = yaml.safe_load(DOCUMENT.read_text())
    assert document["servers"]
    actions = {(op["action"], op["channel"]["$ref"]) for op in document["operations"].values()}
    receiving = {channel for action, channel in actions if action == "receive"}
    consumed = ["clm_customer_events_v1", "clm_lifecycle_changes_v1", "clm_customer_scores_v1"]
    for name in document["channels"]:
        if not name.endswith("_dlq"):
            assert ("send", f"#/channels/{name}") in actions, name
    for name in consumed:
        assert f"#/channels/{name}" in receiving, name
        # Its consumers park poison records in its DLQ, which `clm dlq redrive` reads.
        assert ("send", f"#/channels/{name}_dlq") in actions, name
        assert f"#/channels/{name}_dlq" in receiving, name
