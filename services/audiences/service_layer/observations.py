"""Inbound messages (lifecycle changes, scores, customer events) as updates of the view."""

from datetime import datetime
from typing import Any

from services.audiences.domain.customers import SCORE_FIELDS, Update, UpdateKind
from shared.cloudevents import CloudEventError, from_kafka
from shared.customer_event_codec import decode_record
from shared.events import ProfileData, PurchaseData

STAGE_CHANGED = "clm.lifecycle.stage_changed"
FLAG_CHANGED = "clm.lifecycle.flag_changed"
TIER_CHANGED = "clm.lifecycle.tier_changed"
SCORES_UPDATED = "clm.scoring.scores_updated"


def _time(value: Any, name: str) -> datetime:
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise CloudEventError(f"{name} is not an RFC 3339 time") from exc
    if moment.tzinfo is None:
        raise CloudEventError(f"{name} needs a UTC offset")
    return moment


def decode_lifecycle_change(record: Any) -> Update:
    ce = from_kafka(record.value, record.headers)
    data = ce.data
    customer_id = data.get("customer_id") or ce.subject
    if not customer_id or not isinstance(customer_id, str):
        raise CloudEventError("lifecycle change without customer_id")
    at = _time(data.get("occurred_at") or ce.time, "occurred_at")
    base: dict[str, Any] = {"event_id": ce.id, "customer_id": customer_id, "occurred_at": at}
    if ce.type == STAGE_CHANGED:
        entry = data.get("from_stage") is None and not data.get("retracts")
        return Update(**base, kind=UpdateKind.STAGE, stage=data.get("to_stage"), entry=entry)
    if ce.type == FLAG_CHANGED:
        flag = data.get("flag")
        if not isinstance(flag, str) or not flag:
            raise CloudEventError("flag change without flag")
        value = data.get("flag_value", True)
        return Update(**base, kind=UpdateKind.FLAG, flag=flag, flag_value=value is not False)
    if ce.type == TIER_CHANGED:
        return Update(**base, kind=UpdateKind.TIER, tier=data.get("to_tier"))
    return Update(**base, kind=UpdateKind.NONE)


def decode_scores(record: Any) -> Update:
    ce = from_kafka(record.value, record.headers)
    data = ce.data
    customer_id = data.get("customer_id") or ce.subject
    if not customer_id or not isinstance(customer_id, str):
        raise CloudEventError("score update without customer_id")
    at = _time(data["scored_at"], "scored_at") if data.get("scored_at") else ce.time
    if at is None:
        raise CloudEventError("score update without scored_at or ce_time")
    if ce.type != SCORES_UPDATED:
        return Update(ce.id, customer_id, at, UpdateKind.NONE)
    scores: dict[str, float | None] = {}
    for name in SCORE_FIELDS:
        value = data.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise CloudEventError(f"{name} must be a number")
        scores[name] = None if value is None else float(value)
    segment = data.get("segment")
    if segment is not None and not isinstance(segment, str):
        raise CloudEventError("segment must be a string")
    return Update(ce.id, customer_id, at, UpdateKind.SCORES, scores=scores, rfm_segment=segment)


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
