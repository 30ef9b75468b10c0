"""Something that happened to a customer and may start playbooks: one occurrence, one id."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from .playbooks import SCORES, Playbook, PlaybookBook, TriggerKind


@dataclass(frozen=True)
class Trigger:
    kind: TriggerKind
    customer_id: str
    occurrence_id: str  # the same occurrence redelivered carries the same id
    occurred_at: datetime
    stage: str | None = None
    from_stage: str | None = None  # the stage left, for stage_entered
    flag: str | None = None
    tier: str | None = None
    event: str | None = None
    date: str | None = None  # "birthday" or "holiday:<name>"
    segment: str | None = None
    score: str | None = None
    previous: float | None = None
    value: float | None = None
    context: dict[str, str] = field(default_factory=dict)

    def matches(self, playbook: Playbook) -> bool:
        spec = playbook.trigger
        if spec.kind is not self.kind:
            return False
        if self.kind is TriggerKind.STAGE_ENTERED:
            return spec.stage == self.stage and spec.came_from(self.from_stage)
        if self.kind in (TriggerKind.FLAG_SET, TriggerKind.FLAG_CLEARED):
            return spec.flag == self.flag
        if self.kind is TriggerKind.TIER_ENTERED:
            return spec.tier == self.tier
        if self.kind is TriggerKind.SEGMENT_ENTERED:
            return spec.segment == self.segment
        if self.kind is TriggerKind.SCORE_CROSSED:
            return spec.score == self.score and spec.crossed(self.previous, self.value)
        if self.kind is TriggerKind.DATE:
            if self.date == "birthday":
                return spec.date == "birthday"
            name = (self.date or "").removeprefix("holiday:")
            return spec.date == "holiday" and name in spec.holidays
        return spec.event == self.event


def match_key(trigger: Trigger) -> tuple[object, ...]:
    """What `Trigger.matches` reads of a trigger: two triggers with equal keys start the same
    playbooks (the customer, occurrence, time and context never decide)."""
    t = trigger
    return (t.kind, t.stage, t.from_stage, t.flag, t.tier, t.event, t.date, t.segment, t.score,
            t.previous, t.value)  # fmt: skip


def playbooks_for(trigger: Trigger, book: PlaybookBook) -> list[Playbook]:
    return [p for p in book.active_by_kind.get(trigger.kind, ()) if trigger.matches(p)]


def score_triggers(
    customer_id: str,
    previous: Mapping[str, float | None],
    current: Mapping[str, float | None],
    event_id: str,
    at: datetime,
) -> list[Trigger]:
    """One candidate per score that moved; playbooks decide whether it crossed their line."""
    return [
        Trigger(
            TriggerKind.SCORE_CROSSED,
            customer_id,
            f"{event_id}:{name}",
            at,
            score=name,
            previous=previous.get(name),
            value=value,
        )
        for name, value in current.items()
        if name in SCORES and value is not None and value != previous.get(name)
    ]
