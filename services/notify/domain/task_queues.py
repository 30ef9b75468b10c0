"""Human tasks (webhook steps) go to account-manager queues, each with a daily capacity.

When more tasks are due than a queue can take today, the most valuable customers (highest
CLV, unscored last) get a person; the rest are suppressed with reason ``queue_full:<queue>``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from .playbooks import Policy


@dataclass(frozen=True)
class Candidate:
    message_id: str
    queue: str
    value: float | None  # the customer's CLV when the task falls due


def allocate(
    candidates: Sequence[Candidate], used: Mapping[str, int], capacity: Mapping[str, int]
) -> tuple[list[str], dict[str, str]]:
    """(message ids a person gets, in value order; overflow id -> reason). A queue without a
    capacity takes every task."""
    ranked = sorted(candidates, key=lambda c: (c.value is None, -(c.value or 0.0), c.message_id))
    taken: list[str] = []
    overflow: dict[str, str] = {}
    count = Counter(used)
    for candidate in ranked:
        limit = capacity.get(candidate.queue)
        if limit is not None and count[candidate.queue] >= limit:
            overflow[candidate.message_id] = f"queue_full:{candidate.queue}"
            continue
        count[candidate.queue] += 1
        taken.append(candidate.message_id)
    return taken, overflow


def business_day_start(now: datetime, policy: Policy) -> datetime:
    """Midnight of today in the business's time zone (policy.default_timezone): queues count
    the account managers' day, not the UTC one."""
    local = now.astimezone(ZoneInfo(policy.default_timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)
