"""What to publish when a re-derivation changed a customer's history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from services.lifecycle.domain.moments import iso
from services.lifecycle.domain.stages import Flag, Reason, Stage, Tier
from services.lifecycle.domain.transitions import (
    History,
    StoredHistory,
    Transition,
    TransitionKind,
    ids_of,
    same_history,
    stable_uuid,
)

EVENT_TYPES = {
    TransitionKind.STAGE: "clm.lifecycle.stage_changed",
    TransitionKind.FLAG: "clm.lifecycle.flag_changed",
    TransitionKind.TIER: "clm.lifecycle.tier_changed",
}


class Change(NamedTuple):  # a tuple: one per published change, and far cheaper than a dataclass
    """One message for `clm.lifecycle-changes.v1`; `id` is stable, so use it as the CloudEvent id.

    A correction (`retracts` set) undoes a transition published earlier: it is that
    transition reversed, at the retracted transition's time, with reason
    `late_event_correction`. `from_stage` is None for the entry into acquisition, and so is
    `to_stage` for the correction that retracts an entry (a late event moved it earlier).
    """

    id: str
    customer_id: str
    kind: TransitionKind
    from_stage: Stage | None
    to_stage: Stage | None
    flag: Flag | None
    flag_value: bool | None
    from_tier: Tier | None
    to_tier: Tier | None
    occurred_at: datetime
    reason: Reason
    cause_event_id: str
    retracts: str | None = None

    @property
    def is_correction(self) -> bool:
        return self.retracts is not None

    @property
    def event_type(self) -> str:
        return EVENT_TYPES[self.kind]

    def data(self) -> dict[str, Any]:
        """The CloudEvent `data`: the contract's fields, then this service's additions."""
        return {
            "customer_id": self.customer_id,
            "from_stage": self.from_stage.value if self.from_stage else None,
            "to_stage": self.to_stage.value if self.to_stage else None,
            "flag": self.flag.value if self.flag else None,
            "occurred_at": iso(self.occurred_at),
            "reason": self.reason.value,
            "cause_event_id": self.cause_event_id,
            "transition_id": self.id,
            "kind": self.kind.value,
            "flag_value": self.flag_value,
            "from_tier": self.from_tier.value if self.from_tier else None,
            "to_tier": self.to_tier.value if self.to_tier else None,
            "retracts": self.retracts,
        }


def changes_between(
    old_history: Sequence[Transition],
    new_history: Sequence[Transition],
    cause_event_id: str | None = None,
    reason: Reason = Reason.LATE_EVENT_CORRECTION,
) -> list[Change]:
    """Corrections for transitions that no longer hold (latest first), then new transitions.

    `cause_event_id` names the late event behind the corrections when the caller knows it;
    otherwise a correction keeps the retracted transition's cause. `reason` says why they no
    longer hold (a refund or an order update, when that is what retracts them).
    """
    if isinstance(old_history, StoredHistory):
        if isinstance(new_history, History):
            appended = new_history.appended_to(old_history)
            if appended is not None:  # every stored item kept: no id need be compared
                return [_published(t) for t in appended]
        if same_history(new_history, old_history):
            return []  # a resumed history that kept the stored one as it was
    new_order, old_order = ids_of(new_history), ids_of(old_history)
    new_ids, old_ids = set(new_order), set(old_order)
    # Items are read only where retracted or added: stored items are parsed on access.
    retracted = [old_history[i] for i, id_ in enumerate(old_order) if id_ not in new_ids]
    added = [new_history[i] for i, id_ in enumerate(new_order) if id_ not in old_ids]
    corrections = [_correction(t, cause_event_id, reason) for t in reversed(retracted)]
    return corrections + [_published(t) for t in added]


def _published(transition: Transition) -> Change:
    return Change(
        id=transition.id,
        customer_id=transition.customer_id,
        kind=transition.kind,
        from_stage=transition.from_stage,
        to_stage=transition.to_stage,
        flag=transition.flag,
        flag_value=transition.flag_value,
        from_tier=transition.from_tier,
        to_tier=transition.to_tier,
        occurred_at=transition.occurred_at,
        reason=transition.reason,
        cause_event_id=transition.cause_event_id,
    )


def _correction(transition: Transition, cause_event_id: str | None, reason: Reason) -> Change:
    return Change(
        id=stable_uuid(f"retracts\x1f{transition.id}"),
        customer_id=transition.customer_id,
        kind=transition.kind,
        from_stage=transition.to_stage,
        to_stage=transition.from_stage,
        flag=transition.flag,
        flag_value=None if transition.flag_value is None else not transition.flag_value,
        from_tier=transition.to_tier,
        to_tier=transition.from_tier,
        occurred_at=transition.occurred_at,
        reason=reason,
        cause_event_id=cause_event_id or transition.cause_event_id,
        retracts=transition.id,
    )
