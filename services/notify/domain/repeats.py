"""Repeating steps: when the next one is due, and whether a due one still belongs to the customer.

Repeat n of a step is due at trigger time + delay + n x repeat_every: the trigger's calendar,
which deferrals (quiet hours) and retries do not shift. A chain runs while the customer stays
in the trigger's stage and that stay is the customer's latest entry into it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .playbooks import Playbook, Step

HANDLED = frozenset({"sent", "suppressed", "failed"})


@dataclass(frozen=True)
class Entry:
    """One trigger occurrence of a playbook for a customer, ordered by when it happened."""

    at: datetime
    occurrence_id: str


@dataclass(frozen=True)
class NextRepeat:
    repeat: int
    due_at: datetime


def next_repeat(
    step: Step, trigger_at: datetime, repeat: int, status: str, now: datetime
) -> NextRepeat | None:
    """The repeat after `repeat`, once that one is handled (not while retrying or deferred).

    Slots already past (notify was down for a whole period) are skipped: one message, not a burst.
    """
    if step.repeat_every is None or status not in HANDLED:
        return None
    first = trigger_at + step.delay
    following = max(repeat + 1, (now - first) // step.repeat_every + 1)
    return NextRepeat(following, first + following * step.repeat_every)


def why_repeat_stops(
    playbook: Playbook, stage: str | None, entry: Entry, latest: Entry | None
) -> str | None:
    """A reason to cancel a due message of a repeating step, or None when it still holds."""
    wanted = playbook.trigger.stage
    if stage != wanted:
        return f"left_stage:{wanted}"
    if latest is not None and (latest.at, latest.occurrence_id) > (entry.at, entry.occurrence_id):
        return f"superseded_by:{latest.occurrence_id}"
    return None
