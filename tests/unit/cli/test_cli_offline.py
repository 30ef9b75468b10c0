"""CLI behaviour that needs no running platform: failures are one sentence, never a traceback."""

import socket

import pytest
from typer.testing import CliRunner

from clm_cli.main import app


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch) -> None:
    port = _closed_port()
    for service in ("ingest", "lifecycle", "scoring", "notify"):
        monkeypatch.setenv(f"CLM_{service.upper()}_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("CLM_API_KEY", "clm_test_unused")


def test_an_unreachable_ingest_is_one_sentence(nowhere: None) -> None:
    result = CliRunner().invoke(app, ["seed", "--customers", "5"])
    assert result.exit_code == 1
    assert "ingest service at http://127.0.0.1:" in result.stderr
    assert "is not reachable" in result.stderr
    assert "Traceback" not in result.output


def test_customer_show_with_every_service_down_is_one_sentence(nowhere: None) -> None:
    result = CliRunner().invoke(app, ["customer", "show", "c-1"])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error: None of lifecycle, scoring and notify")
    assert len(result.stderr.strip().splitlines()) == 1


def test_fit_refuses_a_time_without_offset(nowhere: None) -> None:
    result = CliRunner().invoke(app, ["fit", "--as-of", "2026-01-01T00:00:00"])
    assert result.exit_code == 1
    assert "has no UTC offset" in result.stderr


def test_replay_of_an_unknown_service_is_refused() -> None:
    result = CliRunner().invoke(app, ["replay", "billing"])
    assert result.exit_code == 1
    assert "lifecycle service only" in result.stderr


def test_seed_without_a_terminal_does_not_ask(
    nowhere: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLM_SEED_DEMO", raising=False)
    result = CliRunner().invoke(app, ["seed", "--if-empty", "--ask"], input="")
    assert result.exit_code == 0
    assert "demo data not loaded" in result.output


def test_rates_load_of_a_file_without_rates_is_one_sentence(nowhere: None, tmp_path) -> None:
    bad = tmp_path / "rates.csv"
    bad.write_text("currency,day\nUSD,2026-01-01\n")
    result = CliRunner().invoke(app, ["rates", "load", str(bad)])
    assert result.exit_code == 1
    assert "needs the columns currency,date,rate" in result.stderr


def test_rates_list_with_ingest_down_is_one_sentence(nowhere: None) -> None:
    result = CliRunner().invoke(app, ["rates", "list"])
    assert result.exit_code == 1
    assert "ingest service at http://127.0.0.1:" in result.stderr
