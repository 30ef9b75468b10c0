"""Inbound messages (lifecycle changes, customer events) as what notify observes about a customer."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.notify.domain import Trigger, TriggerKind
from services.notify.domain.playbooks import SCORES
from shared.contracts import customer_scores, lifecycle_changes, segment_memberships
from shared.contracts.customer_scores import SCORES_UPDATED
from shared.contracts.lifecycle_changes import FLAG_CHANGED, STAGE_CHANGED, TIER_CHANGED
from shared.customer_event_codec import decode_record
from shared.events import ComplaintData, CustomerEvent, PurchaseData


@dataclass(frozen=True)
class Observation:
    event_id: str
    customer_id: str
    occurred_at: datetime
    trigger: Trigger | None = None
    profile: dict[str, Any] | None = None
    stage: str | None = None
    tier: str | None = None
    cancel_event: str | None = None  # a customer event type that may cancel pending steps
    retracts: str | None = None  # the trigger occurrence a lifecycle correction undoes
    scores: dict[str, float | None] | None = None
    extra: dict[str, str] = field(default_factory=dict)
    # A fact the playbooks' impact counts (a notify_outcomes row without its keys): a
    # purchase (amount, currency), a stage change (from_stage, to_stage) or an opt-out.
    outcome: dict[str, Any] | None = None


def decode_lifecycle_change(record: Any) -> Observation:
    change = lifecycle_changes.decode(record.value, record.headers)
    customer_id, occurred_at = change.customer_id, change.occurred_at
    occurrence, retracts = change.transition_id, change.retracts
    base: dict[str, Any] = {
        "event_id": change.event_id,
        "customer_id": customer_id,
        "occurred_at": occurred_at,
    }
    if change.type == TIER_CHANGED:
        tier = change.to_tier
        if retracts or not tier:
            return Observation(**base, tier=tier, retracts=retracts)
        trigger = Trigger(TriggerKind.TIER_ENTERED, customer_id, occurrence, occurred_at, tier=tier)
        return Observation(**base, tier=tier, trigger=trigger)
    if change.type == STAGE_CHANGED:
        stage = change.to_stage
        if retracts:  # a correction: the stage reverts; the retracted entry's steps are void
            return Observation(**base, stage=stage, retracts=retracts)
        trigger = Trigger(
            TriggerKind.STAGE_ENTERED,
            customer_id,
            occurrence,
            occurred_at,
            stage=stage,
            from_stage=change.from_stage,
        )
        if change.from_stage is None and stage == "acquisition":
            # The entry: a late, earlier event may publish it again after the customer moved
            # on, so it triggers but never overrides the stage notify already knows.
            return Observation(**base, trigger=trigger)
        moved = {"kind": "stage", "from_stage": change.from_stage, "to_stage": stage}
        return Observation(**base, stage=stage, trigger=trigger, outcome=moved)
    if change.type == FLAG_CHANGED:
        if retracts:
            return Observation(**base, retracts=retracts)
        kind = TriggerKind.FLAG_SET if change.flag_value else TriggerKind.FLAG_CLEARED
        trigger = Trigger(kind, customer_id, occurrence, occurred_at, flag=change.flag)
        return Observation(**base, trigger=trigger)
    return Observation(**base)  # a change type notify does not act on


def decode_customer_event(record: Any) -> CustomerEvent:
    # the fast path lifecycle and scoring decode with; the same events, the same refusals
    return decode_record(record)


def observe_customer_event(event: CustomerEvent) -> Observation:
    base: dict[str, Any] = {
        "event_id": event.event_id,
        "customer_id": event.customer_id,
        "occurred_at": event.occurred_at,
    }
    if event.type == "profile":
        data = event.data.model_dump(mode="python", exclude_none=True)
        consent = data.get("consent")
        fields = {k: v for k, v in data.items() if k not in ("consent", "attributes")}
        if consent is not None:
            fields["consent"] = consent
        refused = sorted(c for c, v in (consent or {}).items() if v is False)
        opt_out = {"kind": "opt_out", "channel": refused[0]} if refused else None
        return Observation(**base, profile=fields, outcome=opt_out)
    if isinstance(event.data, ComplaintData):
        status = event.data.status
        ticket = str(event.data.ticket_id)
        name = f"complaint.{status}"
        # One occurrence per ticket and status, whatever event ids the source system used.
        trigger = Trigger(
            TriggerKind.EVENT,
            event.customer_id,
            f"{name}:{ticket}",
            event.occurred_at,
            event=name,
            context={"ticket_id": ticket},
        )
        return Observation(**base, trigger=trigger, cancel_event=name)
    trigger = Trigger(
        TriggerKind.EVENT, event.customer_id, event.event_id, event.occurred_at, event=event.type
    )
    bought = None
    if isinstance(event.data, PurchaseData):
        bought = {"kind": "purchase", "amount": event.data.amount, "currency": event.data.currency}
    return Observation(**base, trigger=trigger, cancel_event=event.type, outcome=bought)


def decode_scores(record: Any) -> Observation:
    update = customer_scores.decode(record.value, record.headers)
    # ce_time is optional in CloudEvents; the update's own scored_at then dates it.
    at = update.time or update.scored_at()
    if update.type != SCORES_UPDATED:
        return Observation(update.event_id, update.customer_id, at)
    scores = {name: update.number(name) for name in SCORES}
    return Observation(update.event_id, update.customer_id, at, scores=scores)


def decode_segment_membership(record: Any) -> Observation:
    """An entry into a segment (clm.segment-memberships.v1) triggers; an exit changes nothing."""
    change = segment_memberships.decode(record.value, record.headers)
    customer_id, at = change.customer_id, change.occurred_at
    if not change.entered:
        return Observation(change.event_id, customer_id, at)
    # The entry's id is one per stay in the segment: a redelivery triggers once.
    trigger = Trigger(
        TriggerKind.SEGMENT_ENTERED, customer_id, change.event_id, at, segment=change.segment
    )
    return Observation(change.event_id, customer_id, at, trigger=trigger)
