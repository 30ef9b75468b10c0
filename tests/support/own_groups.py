"""Lifecycle, scoring, notify (and audiences) under a test module's own consumer groups, each starting at
the end of its topics, so that the module sees only its own events (and the other modules'
services never apply them a second time)."""

from collections.abc import Callable

from shared.topics import CUSTOMER_EVENTS, CUSTOMER_SCORES, CUSTOMER_STATE, LIFECYCLE_CHANGES
from tests.support.services import ServiceProcess
from tests.support.topics import start_group_at_end

_GROUPS = (
    ("lifecycle", CUSTOMER_EVENTS),
    ("scoring", CUSTOMER_EVENTS),
    ("notify-lifecycle", LIFECYCLE_CHANGES),
    ("notify-events", CUSTOMER_EVENTS),
    ("notify-scores", CUSTOMER_SCORES),
    ("scoring-state", CUSTOMER_STATE),
    ("notify-state", CUSTOMER_STATE),
)


async def start_with_own_groups(
    bootstrap: str,
    start_service: Callable[..., ServiceProcess],
    group: str,
    scoring_env: dict[str, str] | None = None,
    **lifecycle_env: str,
) -> dict[str, ServiceProcess]:
    """No refit in scoring and no sender in notify: what the modules assert is their state."""
    for suffix, topic in _GROUPS:
        await start_group_at_end(bootstrap, f"{group}-{suffix}", [topic])
    return {
        "lifecycle": start_service(
            "lifecycle", CLM_LIFECYCLE_CONSUMER_GROUP=f"{group}-lifecycle", **lifecycle_env
        ),
        "scoring": start_service(
            "scoring",
            CLM_SCORING_CONSUMER_GROUP=f"{group}-scoring",
            CLM_SCORING_REFIT_INTERVAL_HOURS="0",
            **(scoring_env or {}),
        ),
        "notify": start_service(
            "notify", CLM_NOTIFY_CONSUMER_GROUP=f"{group}-notify", CLM_NOTIFY_RUN_SENDER="false"
        ),
    }


_AUDIENCES_GROUPS = (
    ("lifecycle", LIFECYCLE_CHANGES),
    ("scores", CUSTOMER_SCORES),
    ("events", CUSTOMER_EVENTS),
    ("state", CUSTOMER_STATE),
)


async def start_audiences_with_own_groups(
    bootstrap: str, start_service: Callable[..., ServiceProcess], group: str, **env: str
) -> ServiceProcess:
    """Audiences under `<group>-audiences-*`; a new segment is built within a second."""
    for suffix, topic in _AUDIENCES_GROUPS:
        await start_group_at_end(bootstrap, f"{group}-audiences-{suffix}", [topic])
    return start_service(
        "audiences",
        CLM_AUDIENCES_CONSUMER_GROUP=f"{group}-audiences",
        CLM_AUDIENCES_BUILD_INTERVAL_SECONDS="0.3",
        **env,
    )
