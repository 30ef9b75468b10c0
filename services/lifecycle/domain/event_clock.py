"""The event-time clock of backfills (CLM_LIFECYCLE_CLOCK=event_time): how far a batch moves it."""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

NOT_STARTED = datetime.min.replace(tzinfo=UTC)
"""The clock before any event moved it: every fact is still ahead of it."""


def event_time_front(
    occurred: Iterable[datetime], wall_now: datetime, max_ahead: timedelta
) -> datetime | None:
    """The latest occurred_at the clock may move to: events dated more than `max_ahead` past
    the wall clock are left out, so one customer's bad data cannot move everyone's clock
    (their facts still apply, once the clock reaches them). None: no event may move it."""
    limit = wall_now + max_ahead
    return max((at for at in occurred if at <= limit), default=None)
