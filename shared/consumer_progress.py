"""Whether each consumer group of this process is making progress: metrics and /readyz detail.

A member makes progress when it commits a batch or finds nothing to consume. It is stuck when
it has worked on the same batch (the same offsets) for longer than `stuck_after` seconds: its
dependencies are down, or a failure is taken for transient that is not. Poison records no
longer stick a consumer (they are dead-lettered), so stuck means "look at the logs".
"""

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.metrics import CONSUMER_LAST_PROGRESS, CONSUMER_STUCK

DEFAULT_STUCK_AFTER_SECONDS = 60.0


@dataclass(eq=False)  # members are told apart by identity
class MemberProgress:
    """One consumer member's progress; the loop tells it when a batch starts, fails, ends."""

    group: str
    stuck_after: float = DEFAULT_STUCK_AFTER_SECONDS
    last_progress_at: float = field(default_factory=time.time)  # Unix time, for the metric
    working_since: float | None = None  # monotonic: start of the batch not yet committed
    offsets: str | None = None  # that batch's offsets, partition:first-last
    attempts: int = 0
    last_error: str | None = None

    def begin(self, offsets: str) -> None:
        self.working_since, self.offsets, self.attempts, self.last_error = (
            time.monotonic(), offsets, 0, None
        )  # fmt: skip

    def failed(self, error: str) -> None:
        self.attempts += 1
        self.last_error = error

    def progressed(self) -> None:
        """A batch was committed, or there was nothing to consume."""
        self.last_progress_at = time.time()
        self.working_since = self.offsets = self.last_error = None
        self.attempts = 0

    def working_for(self) -> float:
        return 0.0 if self.working_since is None else time.monotonic() - self.working_since

    def is_stuck(self) -> bool:
        return self.working_since is not None and self.working_for() > self.stuck_after

    def detail(self) -> dict[str, Any]:
        return {
            "stuck": self.is_stuck(),
            "last_progress_at": datetime.fromtimestamp(self.last_progress_at, UTC).isoformat(),
            "working_on": self.offsets,
            "working_for_seconds": round(self.working_for(), 1),
            "attempts": self.attempts,
            "last_error": self.last_error,
        }


_members: dict[str, list[MemberProgress]] = {}


def register(progress: MemberProgress) -> None:
    """Counts the member in its group's metrics and in `groups()` until `unregister`."""
    members = _members.setdefault(progress.group, [])
    members.append(progress)
    if len(members) == 1:
        group = progress.group
        CONSUMER_STUCK.labels(group).set_function(lambda: float(_group_stuck(group)))
        CONSUMER_LAST_PROGRESS.labels(group).set_function(lambda: _group_last_progress(group))


def unregister(progress: MemberProgress) -> None:
    members = _members.get(progress.group, [])
    if progress in members:
        members.remove(progress)


def _group_stuck(group: str) -> bool:
    return any(m.is_stuck() for m in _members.get(group, ()))


def _group_last_progress(group: str) -> float:
    # The member furthest behind speaks for the group: its partitions are the ones waiting.
    return min((m.last_progress_at for m in _members.get(group, ())), default=0.0)


def groups() -> dict[str, dict[str, Any]]:
    """Each group of this process: stuck or not, and each member's detail (for /readyz)."""
    return {
        group: {"stuck": _group_stuck(group), "members": [m.detail() for m in members]}
        for group, members in _members.items()
        if members
    }
