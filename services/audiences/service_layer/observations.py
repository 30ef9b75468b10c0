"""Inbound messages (lifecycle changes, scores, customer events) as updates of the view."""

from typing import Any

from services.audiences.domain.customers import SCORE_FIELDS, Update, UpdateKind
from shared.cloudevents import CloudEventError
from shared.contracts import customer_scores, lifecycle_changes
from shared.contracts.customer_scores import SCORES_UPDATED
from shared.contracts.lifecycle_changes import FLAG_CHANGED, STAGE_CHANGED, TIER_CHANGED
from shared.customer_event_codec import decode_record
from shared.events import ProfileData, PurchaseData


def decode_lifecycle_change(record: Any) -> Update:
    change = lifecycle_changes.decode(record.value, record.headers)
    base: dict[str, Any] = {
        "event_id": change.event_id,
        "customer_id": change.customer_id,
        "occurred_at": change.occurred_at,
    }
    if change.type == STAGE_CHANGED:
        entry = change.from_stage is None and not change.retracts
        return Update(**base, kind=UpdateKind.STAGE, stage=change.to_stage, entry=entry)
    if change.type == FLAG_CHANGED:
        if not isinstance(change.flag, str) or not change.flag:
            raise CloudEventError("flag change without flag")
        value = change.flag_value is not False
        return Update(**base, kind=UpdateKind.FLAG, flag=change.flag, flag_value=value)
    if change.type == TIER_CHANGED:
        return Update(**base, kind=UpdateKind.TIER, tier=change.to_tier)
    return Update(**base, kind=UpdateKind.NONE)


def decode_scores(record: Any) -> Update:
    update = customer_scores.decode(record.value, record.headers)
    at = update.scored_at()
    if update.type != SCORES_UPDATED:
        return Update(update.event_id, update.customer_id, at, UpdateKind.NONE)
    scores = {name: update.number(name) for name in SCORE_FIELDS}
    segment = update.data.get("segment")
    if segment is not None and not isinstance(segment, str):
        raise CloudEventError("segment must be a string")
    return Update(
        update.event_id,
        update.customer_id,
        at,
        UpdateKind.SCORES,
        scores=scores,
        rfm_segment=segment,
    )


def decode_customer_event(record: Any) -> Update:
    # the same decoder (and the same refusals) as every consumer of the event log
    event = decode_record(record)
    base: dict[str, Any] = {
        "event_id": event.event_id,
        "customer_id": event.customer_id,
        "occurred_at": event.occurred_at,
    }
    if isinstance(event.data, PurchaseData):
        return Update(**base, kind=UpdateKind.PURCHASE)
    if isinstance(event.data, ProfileData):
        return Update(
            **base,
            kind=UpdateKind.PROFILE,
            locale=event.data.locale,
            attributes=event.data.attributes,
        )
    return Update(**base, kind=UpdateKind.NONE)
