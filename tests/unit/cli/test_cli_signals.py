"""What the CLI tells an operator (issue 18, item 7): an auth failure says so; `clm status`
exits non-zero when anything is down, lists every service group, and has --json; --version."""

import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from clm_cli import kafka_ops, main, stack_control
from clm_cli.errors import CliError
from clm_cli.stack_control import Component
from tests.unit.cli.test_cli_views import _fake


def test_a_wrong_api_key_is_reported_as_an_auth_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"title": "Unauthorized", "detail": "Unknown API key."})

    _fake(monkeypatch, handler)
    result = CliRunner().invoke(main.app, ["customer", "show", "c-1"])
    assert result.exit_code == 1
    assert "Authentication failed" in result.output and "API key" in result.output
    assert "No service knows" not in result.output


def _components(healthy: bool) -> list[Component]:
    return [
        Component("kafka", 1, 9092, "listening", True),
        Component("lifecycle", None, 8002, "ready" if healthy else "unreachable", healthy),
    ]


def _lags(error: bool) -> Any:
    async def consumer_lag(bootstrap: str, groups: dict[str, str]) -> Any:
        if error:
            raise CliError(
                "Kafka at 127.0.0.1:9092 is not reachable; start the stack with `clm up`."
            )
        return {g: [kafka_ops.GroupLag(g, t, 12, 100, 100)] for g, t in groups.items()}

    return consumer_lag


@pytest.mark.parametrize(
    ("healthy", "kafka_down", "code"), [(True, False, 0), (False, False, 1), (True, True, 1)]
)
def test_status_exits_non_zero_when_anything_is_down(
    monkeypatch: pytest.MonkeyPatch, healthy: bool, kafka_down: bool, code: int
) -> None:
    monkeypatch.setattr(stack_control, "components", lambda settings: _components(healthy))
    monkeypatch.setattr(kafka_ops, "consumer_lag", _lags(kafka_down))
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(main.app, ["status"])
    assert result.exit_code == code, result.output
    as_json = CliRunner().invoke(main.app, ["status", "--json"])
    assert as_json.exit_code == code, as_json.output
    report = json.loads(as_json.stdout)
    assert report["healthy"] is (code == 0)
    assert {c["name"] for c in report["components"]} == {"kafka", "lifecycle"}
    if not kafka_down:
        groups = {row["group"] for row in report["consumer_lag"]}
        assert "clm-notify-scores" in groups and "clm-lifecycle" in groups
        assert all(row["lag"] == 0 for row in report["consumer_lag"])
    else:
        assert "not reachable" in report["consumer_lag_error"]


def test_version() -> None:
    result = CliRunner().invoke(main.app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("clm ")
