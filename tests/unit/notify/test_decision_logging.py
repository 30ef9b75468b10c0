"""One line per message decision flooded the logs (53 MB in 15 minutes of demo, issue 18 item
7): each decision is counted in clm_notify_decisions_total and its line is at debug level."""

from typing import Any

from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from services.notify.service_layer.intake import _log_decisions
from services.notify.service_layer.sender import Sender


def _message(i: int) -> dict[str, Any]:
    return {"id": f"m-{i}", "customer_id": f"c-{i}", "occurrence_id": "o", "playbook": "p",
            "step": "s", "channel": "email"}  # fmt: skip


def _count(status: str) -> float:
    value = REGISTRY.get_sample_value(
        "clm_notify_decisions_total", {"channel": "email", "status": status}
    )
    return value or 0.0


def test_decisions_are_counted_and_logged_at_debug() -> None:
    before = (_count("suppressed"), _count("sent"))
    stale = [(_message(i), "suppressed", "stale_trigger") for i in range(50)]
    sent = [(_message(i), "sent", "delivered") for i in range(7)]
    with capture_logs() as logs:
        _log_decisions(stale, {}, {})
        Sender._count(sent)
    assert {line["log_level"] for line in logs} == {"debug"}
    assert (_count("suppressed") - before[0], _count("sent") - before[1]) == (50, 7)
