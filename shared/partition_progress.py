"""How far a consumer group member has read its partitions, as it hands over a batch.

A handler that keeps a clock by the events' own times (lifecycle's event-time mode) needs to
know which partitions still hold unread records: such a partition's next events may be older
than what the batch brought from another one. The member sets it for the batch's handling;
the handler (and the tasks it starts, which copy the context) read it.
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PartitionProgress:
    topic: str
    caught_up: Mapping[int, bool]
    """Every partition the member holds: True when it has been read up to its end (as far as
    the latest fetch knew), False while records are left or its end is not known yet."""


_CURRENT: ContextVar[PartitionProgress | None] = ContextVar("partition_progress", default=None)


def batch_progress() -> PartitionProgress | None:
    """The progress of the member whose batch is being handled; None outside a member (a
    handler called directly)."""
    return _CURRENT.get()


@contextmanager
def handling_batch(progress: PartitionProgress) -> Iterator[None]:
    token = _CURRENT.set(progress)
    try:
        yield
    finally:
        _CURRENT.reset(token)
