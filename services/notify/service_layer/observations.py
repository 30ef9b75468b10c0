"""Inbound messages (lifecycle changes, customer events) as what notify observes about a customer."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.notify.domain import Trigger, TriggerKind
from services.notify.domain.playbooks import SCORES
from shared.cloudevents import CloudEventError, from_kafka
from shared.customer_event_codec import decode_record
from shared.events import ComplaintData, CustomerEvent

STAGE_CHANGED = "clm.lifecycle.stage_changed"
FLAG_CHANGED = "clm.lifecycle.flag_changed"
TIER_CHANGED = "clm.lifecycle.tier_changed"


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


def _time(value: Any, name: str) -> datetime:
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise CloudEventError(f"{name} is not an RFC 3339 time") from exc
    if moment.tzinfo is None:
        raise CloudEventError(f"{name} needs a UTC offset")
    return moment


def decode_lifecycle_change(record: Any) -> Observation:
    ce = from_kafka(record.value, record.headers)
    data = ce.data
    customer_id = data.get("customer_id") or ce.subject
    if not customer_id:
        raise CloudEventError("lifecycle change without customer_id")
    occurred_at = _time(data.get("occurred_at") or ce.time, "occurred_at")
    occurrence = str(data.get("transition_id") or ce.id)
    retracts = data.get("retracts")
    base: dict[str, Any] = {
        "event_id": ce.id,
        "customer_id": customer_id,
        "occurred_at": occurred_at,
    }
    if ce.type == TIER_CHANGED:
        tier = data.get("to_tier")
        if retracts or not tier:
            return Observation(**base, tier=tier, retracts=retracts)
        trigger = Trigger(TriggerKind.TIER_ENTERED, customer_id, occurrence, occurred_at, tier=tier)
        return Observation(**base, tier=tier, trigger=trigger)
    if ce.type == STAGE_CHANGED:
        stage = data.get("to_stage")
        if retracts:  # a correction: the stage reverts; the retracted entry's steps are void
            return Observation(**base, stage=stage, retracts=retracts)
        trigger = Trigger(
            TriggerKind.STAGE_ENTERED,
            customer_id,
            occurrence,
            occurred_at,
            stage=stage,
            from_stage=data.get("from_stage"),
        )
        if data.get("from_stage") is None and stage == "acquisition":
            # The entry: a late, earlier event may publish it again after the customer moved
            # on, so it triggers but never overrides the stage notify already knows.
            return Observation(**base, trigger=trigger)
        return Observation(**base, stage=stage, trigger=trigger)
    if ce.type == FLAG_CHANGED:
        if retracts:
            return Observation(**base, retracts=retracts)
        kind = TriggerKind.FLAG_SET if data.get("flag_value", True) else TriggerKind.FLAG_CLEARED
        trigger = Trigger(kind, customer_id, occurrence, occurred_at, flag=data.get("flag"))
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
        return Observation(**base, profile=fields)
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
    return Observation(**base, trigger=trigger, cancel_event=event.type)


SCORES_UPDATED = "clm.scoring.scores_updated"


def decode_scores(record: Any) -> Observation:
    ce = from_kafka(record.value, record.headers)
    data = ce.data
    customer_id = data.get("customer_id") or ce.subject
    if not customer_id:
        raise CloudEventError("score update without customer_id")
    # ce_time is optional in CloudEvents; the update's own scored_at then dates it.
    at = ce.time or _time(data.get("scored_at"), "scored_at")
    if ce.type != SCORES_UPDATED:
        return Observation(ce.id, customer_id, at)
    scores = {}
    for name in SCORES:
        value = data.get(name)
        if value is not None and not isinstance(value, int | float):
            raise CloudEventError(f"{name} must be a number")
        scores[name] = None if value is None else float(value)
    return Observation(ce.id, customer_id, at, scores=scores)


SEGMENT_ENTERED = "clm.audiences.segment_entered"


def decode_segment_membership(record: Any) -> Observation:
    """An entry into a segment (clm.segment-memberships.v1) triggers; an exit changes nothing."""
    ce = from_kafka(record.value, record.headers)
    data = ce.data
    customer_id = data.get("customer_id") or ce.subject
    segment = data.get("segment")
    if not customer_id or not isinstance(segment, str) or not segment:
        raise CloudEventError("segment membership without customer_id or segment")
    at = _time(data.get("occurred_at") or ce.time, "occurred_at")
    if ce.type != SEGMENT_ENTERED:
        return Observation(ce.id, customer_id, at)
    # The entry's id is one per stay in the segment: a redelivery triggers once.
    trigger = Trigger(TriggerKind.SEGMENT_ENTERED, customer_id, ce.id, at, segment=segment)
    return Observation(ce.id, customer_id, at, trigger=trigger)
