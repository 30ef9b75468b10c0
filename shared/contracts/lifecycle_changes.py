"""clm.lifecycle-changes.v1: stage, flag and tier changes, published by lifecycle.

Model (`LifecycleChangeData`, what AsyncAPI documents), encoder (`outbox_row`, `record`) and
decoder (`decode`, what consumers read) of the one message, in one place.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict

from shared.cloudevents import (
    CloudEvent,
    CloudEventError,
    HeaderEncoder,
    KafkaRecord,
    data_time,
    from_kafka,
    to_kafka,
)
from shared.contracts.customer_occurrence import CustomerOccurrence
from shared.outbox import EncodedRow
from shared.topics import LIFECYCLE_CHANGES

TOPIC = LIFECYCLE_CHANGES
SOURCE = "/clm/lifecycle"
SCHEMA = "urn:clm:schema:lifecycle-change:v1"
STAGE_CHANGED = "clm.lifecycle.stage_changed"
FLAG_CHANGED = "clm.lifecycle.flag_changed"
TIER_CHANGED = "clm.lifecycle.tier_changed"
HEADERS = HeaderEncoder(SOURCE, dataschema=SCHEMA)

Stage = Literal["acquisition", "development", "maintenance", "churn"]


class LifecycleChangeData(BaseModel):
    """`clm.lifecycle.stage_changed` / `flag_changed` / `tier_changed`.

    `from_stage` is null on a customer's first message, its entry into acquisition (reason
    `first_contact` or `first_purchase`); `to_stage` is null only on the correction that
    retracts such an entry (`retracts` set: a late, earlier event moved the entry)."""

    model_config = ConfigDict(extra="forbid")

    customer_id: str
    from_stage: Stage | None
    to_stage: Stage | None
    flag: str | None
    occurred_at: datetime
    reason: str
    cause_event_id: str
    transition_id: str
    kind: Literal["stage", "flag", "tier"]
    flag_value: bool | None
    from_tier: str | None
    to_tier: str | None
    retracts: str | None


def outbox_row(
    id: str, customer_id: str, type: str, occurred_at: str, data: dict[str, Any]
) -> EncodedRow:
    """The change as the outbox keeps it; `occurred_at` is RFC 3339 text (the CloudEvent time)."""
    return (
        customer_id.encode(),
        orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS),
        HEADERS.json(id, customer_id, occurred_at, type=type),
    )


def record(
    id: str, customer_id: str, type: str, occurred_at: datetime, data: dict[str, Any]
) -> KafkaRecord:
    """The change as a Kafka record (what the relay publishes for `outbox_row`)."""
    event = CloudEvent(id, SOURCE, type, customer_id, occurred_at, data, SCHEMA)
    return to_kafka(TOPIC, event)


@dataclass(frozen=True)
class LifecycleChange(CustomerOccurrence):
    """A change as consumers read it: lenient about fields a consumer does not need."""

    transition_id: str  # the occurrence: the CloudEvent id when the field is absent
    from_stage: str | None
    to_stage: str | None
    flag: str | None
    flag_value: bool | None  # true when absent (a flag set); false or null: cleared
    to_tier: str | None
    retracts: str | None


def decode(value: bytes | None, headers: Any) -> LifecycleChange:
    """Raises CloudEventError (the record is poison) for what no consumer could act on."""
    ce = from_kafka(value, headers)
    data = ce.data
    customer_id = data.get("customer_id") or ce.subject
    if not customer_id:
        raise CloudEventError("lifecycle change without customer_id")
    return LifecycleChange(
        event_id=ce.id,
        type=ce.type,
        customer_id=customer_id,
        occurred_at=data_time(data.get("occurred_at") or ce.time, "occurred_at"),
        transition_id=str(data.get("transition_id") or ce.id),
        from_stage=data.get("from_stage"),
        to_stage=data.get("to_stage"),
        flag=data.get("flag"),
        flag_value=data.get("flag_value", True),
        to_tier=data.get("to_tier"),
        retracts=data.get("retracts"),
    )
