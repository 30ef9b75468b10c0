"""Membership changes: who enters and who leaves a segment, and the id of each occurrence."""

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

# Every entry and exit id is derived in this namespace (uuid5), so a replay republishes the
# same ids and a reader that dedupes by id sees each change once.
_NAMESPACE = uuid.UUID("6f1c5a3e-0b9d-4e77-9a51-3c2d8e4f7a10")


class Change(StrEnum):
    ENTERED = "entered"
    EXITED = "exited"


class Reason(StrEnum):
    CUSTOMER_CHANGED = "customer_changed"  # a lifecycle change, score or event moved them
    TIME_PASSED = "time_passed"  # a purchase window or the CLV percentiles moved
    SEGMENT_CREATED = "segment_created"  # the first evaluation of a new segment
    SEGMENT_DELETED = "segment_deleted"


@dataclass(frozen=True)
class Diff:
    entered: frozenset[str]
    exited: frozenset[str]


def diff(considered: Iterable[str], members: Iterable[str], matching: Iterable[str]) -> Diff:
    """Among the `considered` customers: those matching now who are not members enter, the
    members no longer matching exit; customers not considered keep their membership."""
    scope = set(considered)
    now_in = scope & set(matching)
    was_in = scope & set(members)
    return Diff(frozenset(now_in - was_in), frozenset(was_in - now_in))


@dataclass(frozen=True)
class MembershipChange:
    segment: str
    customer_id: str
    change: Change
    reason: Reason
    entered_at: datetime  # the membership this change starts or ends
    at: datetime  # when it was observed

    @property
    def event_id(self) -> str:
        """One id per membership and direction: the entry and the exit of one stay differ,
        a second stay (a new entered_at) gets new ids."""
        name = f"{self.segment}\x1f{self.customer_id}\x1f{self.entered_at.isoformat()}"
        return str(uuid.uuid5(_NAMESPACE, f"{name}\x1f{self.change.value}"))


def changes_of(
    segment: str,
    entered: Mapping[str, datetime],
    exited: Mapping[str, datetime],
    reason: Reason,
    at: datetime,
) -> list[MembershipChange]:
    """The changes to publish: `entered`/`exited` map customers to their membership's start;
    in customer order, so that a batch's records are deterministic."""
    changes = [
        MembershipChange(segment, c, Change.EXITED, reason, since, at)
        for c, since in sorted(exited.items())
    ]
    changes += [
        MembershipChange(segment, c, Change.ENTERED, reason, since, at)
        for c, since in sorted(entered.items())
    ]
    return changes
