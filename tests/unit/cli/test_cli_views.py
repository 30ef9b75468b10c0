"""Rendering of service answers, with the services faked at the HTTP transport."""

from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from clm_cli import main, service_calls
from clm_cli.settings import CliSettings

MODEL = {
    "model_id": "m-1",
    "as_of": "2026-03-01T00:00:00+00:00",
    "time_unit": "week",
    "bgnbd": {
        "r": 0.61,
        "alpha": 5.2,
        "a": 0.7,
        "b": 3.1,
        "log_likelihood": -1234.5,
        "n_customers": 880,
    },
    "gamma_gamma": {
        "p": 6.1,
        "q": 3.4,
        "gamma": 25000.0,
        "log_likelihood": -99.0,
        "n_customers": 500,
    },
}
STATE = {"customer_id": "c-1", "stage": "maintenance", "flags": ["at_risk"], "tier": "B"}
HISTORY = {
    "customer_id": "c-1",
    "transitions": [
        {"kind": "stage", "from_stage": "acquisition", "to_stage": "development",
         "occurred_at": "2025-01-01T00:00:00Z", "reason": "first_purchase"},
    ],
}  # fmt: skip


def _fake(monkeypatch: pytest.MonkeyPatch, handler: Any) -> None:
    def client(
        settings: CliSettings, service: str, timeout: float | None = None
    ) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"http://{service}", transport=httpx.MockTransport(handler)
        )

    monkeypatch.setattr(service_calls, "client", client)
    monkeypatch.setattr(main, "client", client)
    monkeypatch.setenv("COLUMNS", "200")


def test_fit_prints_the_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.read())
        return httpx.Response(201, json=MODEL)

    _fake(monkeypatch, handler)
    result = CliRunner().invoke(main.app, ["fit", "--as-of", "2026-03-01", "--time-unit", "week"])
    assert result.exit_code == 0, result.output
    assert b'"as_of":"2026-03-01T00:00:00+00:00"' in seen[0].replace(b" ", b"")
    for text in ("BG/NBD", "0.61", "Gamma-Gamma", "25000", "880"):
        assert text in result.stdout


def test_a_failed_fit_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, lambda r: httpx.Response(422, json={"detail": "Too few repeat buyers."}))
    result = CliRunner().invoke(main.app, ["fit"])
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == "error: The scoring service answered HTTP 422: Too few repeat buyers."
    )


def test_customer_show_marks_a_missing_and_a_down_service(monkeypatch: pytest.MonkeyPatch) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "notify":
            raise httpx.ConnectError("refused", request=request)
        if request.url.host == "scoring":
            return httpx.Response(404, json={"detail": "No events for customer 'c-1'."})
        return httpx.Response(200, json=HISTORY if request.url.path.endswith("history") else STATE)

    _fake(monkeypatch, handler)
    result = CliRunner().invoke(main.app, ["customer", "show", "c-1"])
    assert result.exit_code == 0, result.output
    for text in ("maintenance", "at_risk", "acquisition -> development", "first_purchase",
                 "scoring does not know this customer", "notify is not reachable"):  # fmt: skip
        assert text in result.stdout
