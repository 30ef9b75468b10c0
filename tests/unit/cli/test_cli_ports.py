"""The CLI talks to the stack on the ports the local stack was started with (issue 18, item 4):
CLM_*_PORT reaches it unless a URL is set explicitly."""

import pytest

from clm_cli.settings import CliSettings


def test_port_variables_reach_the_cli_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("INGEST", "LIFECYCLE", "SCORING", "NOTIFY", "SINK_HTTP"):
        monkeypatch.delenv(f"CLM_{name}_URL", raising=False)
    monkeypatch.setenv("CLM_INGEST_PORT", "8171")
    monkeypatch.setenv("CLM_LIFECYCLE_PORT", "8172")
    monkeypatch.setenv("CLM_SCORING_PORT", "8173")
    monkeypatch.setenv("CLM_NOTIFY_PORT", "8174")
    monkeypatch.setenv("CLM_SINK_HTTP_PORT", "9175")
    settings = CliSettings()
    assert settings.service_url("ingest") == "http://127.0.0.1:8171"
    assert settings.service_url("lifecycle") == "http://127.0.0.1:8172"
    assert settings.service_url("scoring") == "http://127.0.0.1:8173"
    assert settings.service_url("notify") == "http://127.0.0.1:8174"
    assert settings.sink_url == "http://127.0.0.1:9175"


def test_an_explicit_url_wins_over_the_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLM_SCORING_PORT", "8173")
    monkeypatch.setenv("CLM_SCORING_URL", "http://scoring.internal:8000")
    assert CliSettings().service_url("scoring") == "http://scoring.internal:8000"
