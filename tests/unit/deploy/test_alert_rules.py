"""The Prometheus alert rules (issue 18, item 7) are valid and fire on what they watch:
`promtool check rules`, `promtool check config` and `promtool test rules`. promtool comes with
Debian's `prometheus` package, which `make test` installs when it is missing; without it this
test fails rather than skips, so CI cannot pass without checking the rules."""

import shutil
import subprocess
from pathlib import Path

import pytest

OBSERVABILITY = Path(__file__).resolve().parents[3] / "deploy" / "observability"
ALERTS = ("ClmConsumerStuck", "ClmConsumerLagGrowing", "ClmDeadLettered", "ClmOutboxBacklog",
          "ClmMessageFailureRate")  # fmt: skip


def _promtool(*args: str) -> str:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: `make tools` (apt-get install prometheus) installs it")
    done = subprocess.run(
        [promtool, *args], cwd=OBSERVABILITY, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_alert_rules_are_valid_and_complete() -> None:
    out = _promtool("check", "rules", "alert-rules.yml")
    assert f"SUCCESS: {len(ALERTS)} rules found" in out
    text = (OBSERVABILITY / "alert-rules.yml").read_text()
    assert all(f"alert: {name}" in text for name in ALERTS)


def test_prometheus_config_loads_the_rules() -> None:
    assert "1 rule files found" in _promtool("check", "config", "prometheus.yml")


def test_each_alert_fires_on_its_series() -> None:
    _promtool("test", "rules", "alert-rules.test.yml")
    tested = (OBSERVABILITY / "alert-rules.test.yml").read_text()
    assert all(f"alertname: {name}" in tested for name in ALERTS)
