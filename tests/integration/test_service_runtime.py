"""Each service's lifespan (shared/service_runtime.py) starts its consumers and stops cleanly.

A real uvicorn process per service: ready, its consumer groups reported running on /readyz,
then SIGTERM ends it after a complete shutdown with no error in its log (no task left failing, no
coroutine left unawaited).
"""

import json
import signal
import urllib.request
import uuid
from collections.abc import Callable

import pytest

from tests.support.polling import eventually
from tests.support.services import LOG_DIR, ServiceProcess

pytestmark = pytest.mark.integration

# service -> its consumer-group settings -> the groups (suffixes) its lifespan starts from each
_GROUPS: dict[str, dict[str, list[str]]] = {
    "ingest": {},  # publishes only: its lifespan opens the database and the publisher
    "lifecycle": {
        "CLM_LIFECYCLE_CONSUMER_GROUP": [""],
        "CLM_LIFECYCLE_SCORES_CONSUMER_GROUP": [""],
    },
    "scoring": {"CLM_SCORING_CONSUMER_GROUP": ["", "-state"]},
    "notify": {"CLM_NOTIFY_CONSUMER_GROUP": ["-lifecycle", "-events", "-state"]},
    "audiences": {"CLM_AUDIENCES_CONSUMER_GROUP": ["-lifecycle", "-scores", "-events", "-state"]},
}
_ERRORS = ("Traceback", "never awaited", "Task exception")


def _running_groups(proc: ServiceProcess) -> set[str]:
    with urllib.request.urlopen(f"{proc.url}/readyz", timeout=2) as resp:
        return set(json.load(resp).get("consumers", {}))


@pytest.mark.parametrize("service", sorted(_GROUPS))
async def test_a_service_starts_its_consumers_and_stops_cleanly_on_sigterm(
    service: str, start_service: Callable[..., ServiceProcess]
) -> None:
    groups = {setting: f"clm-runtime-{uuid.uuid4().hex[:8]}" for setting in _GROUPS[service]}
    proc = start_service(service, ready_within=180, **groups)
    expected = {
        groups[setting] + suffix
        for setting, suffixes in _GROUPS[service].items()
        for suffix in suffixes
    }

    async def consumers_running() -> bool:
        return expected <= _running_groups(proc)

    await eventually(consumers_running, timeout=60, what=f"{service}'s consumers {expected}")
    proc.stop(signal.SIGTERM, timeout=30)
    assert proc.process is not None
    # uvicorn re-raises the signal it handled once its shutdown is complete
    assert proc.process.returncode in (0, -signal.SIGTERM)
    log = (LOG_DIR / f"{service}-{proc.port}.log").read_text(errors="replace")
    started_at = log.rfind("Started server process")
    assert "Application shutdown complete" in log[started_at:]
    assert "Finished server process" in log[started_at:]
    assert not [e for e in _ERRORS if e in log[started_at:]], log[started_at:][-4000:]
