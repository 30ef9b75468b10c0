"""The event-time clock of backfills (CLM_LIFECYCLE_CLOCK=event_time).

Events reach the service partition by partition, each partition in order: a batch may bring
a long stretch of one partition while the others wait. The clock that fires time-driven
changes (inactivity churn, at-risk by gap, tier decay) for every customer may therefore move
only as far as the partitions still being read have come; each customer's own events, which
arrive in order, carry that customer further.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.lifecycle.domain.facts import CustomerFacts

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


@dataclass(frozen=True, slots=True)
class PartitionClock:
    """How far one partition of the events topic has been read."""

    partition: int
    latest: datetime | None
    """The latest occurred_at read from it that may move the clock (None: none yet)."""
    caught_up: bool
    """Read up to its end: its next events are new ones, not a backlog."""


def low_watermark(partitions: Iterable[PartitionClock]) -> datetime | None:
    """How far the clock may move: to the earliest `latest` among the partitions still being
    read, so that no customer's clock runs past events its partition has not delivered yet;
    once every partition is read to its end, to the latest event of any. A partition with a
    backlog and nothing read yet holds it where it is (None)."""
    partitions = list(partitions)
    behind = [p.latest for p in partitions if not p.caught_up]
    if not behind:
        return max((p.latest for p in partitions if p.latest is not None), default=None)
    if any(latest is None for latest in behind):
        return None
    return min(latest for latest in behind if latest is not None)


def own_latest(facts: CustomerFacts, limit: datetime) -> datetime | None:
    """The customer's latest purchase or complaint dated by `limit`: the facts its own clock
    may run to (score readings are dated by the scoring service's wall clock, not the
    backfill's)."""
    times = [order.placed_at for order in facts.orders()]
    times += [ticket.opened.at for ticket in facts.complaints.values()]
    return max((at for at in times if at <= limit), default=None)


def customer_moment(clock: datetime, facts: CustomerFacts, limit: datetime) -> datetime:
    """The moment a customer is derived at: the clock, or its own latest purchase or
    complaint when that is later (its events arrive in order, so nothing of its own that is
    earlier is still unread, apart from truly late events, which are corrected)."""
    latest = own_latest(facts, limit)
    return clock if latest is None or latest <= clock else latest
