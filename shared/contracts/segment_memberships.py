"""clm.segment-memberships.v1: entries into and exits from audience segments, published by
audiences (key = customer_id).

Model (`SegmentMembershipData`), encoder (`record`) and decoder (`decode`) of the one message.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.cloudevents import (
    CloudEvent,
    CloudEventError,
    KafkaRecord,
    data_time,
    from_kafka,
    to_kafka,
)
from shared.contracts.customer_occurrence import CustomerOccurrence
from shared.topics import SEGMENT_MEMBERSHIPS

TOPIC = SEGMENT_MEMBERSHIPS
SOURCE = "/clm/audiences"
SCHEMA = "urn:clm:schema:segment-membership:v1"
TYPE_PREFIX = "clm.audiences.segment_"  # + entered | exited
SEGMENT_ENTERED = f"{TYPE_PREFIX}entered"


class SegmentMembershipData(BaseModel):
    """`clm.audiences.segment_entered` / `segment_exited`: a customer entered or left an
    audience segment (services/audiences). The event id is one per stay and direction (a
    replay republishes the same id); `entered_at` names the stay an exit ends."""

    model_config = ConfigDict(extra="forbid")

    customer_id: str
    segment: str
    change: Literal["entered", "exited"]
    reason: Literal["customer_changed", "time_passed", "segment_created", "segment_deleted"]
    entered_at: datetime
    occurred_at: datetime


def record(
    id: str,
    customer_id: str,
    segment: str,
    change: str,
    reason: str,
    entered_at: datetime,
    at: datetime,
) -> KafkaRecord:
    """One entry or exit as a Kafka record."""
    data = {
        "customer_id": customer_id,
        "segment": segment,
        "change": change,
        "reason": reason,
        "entered_at": entered_at.isoformat(),
        "occurred_at": at.isoformat(),
    }
    event = CloudEvent(id, SOURCE, f"{TYPE_PREFIX}{change}", customer_id, at, data, SCHEMA)
    return to_kafka(TOPIC, event)


@dataclass(frozen=True)
class SegmentMembership(CustomerOccurrence):
    """An entry or exit as consumers read it."""

    segment: str

    @property
    def entered(self) -> bool:
        return self.type == SEGMENT_ENTERED


def decode(value: bytes | None, headers: Any) -> SegmentMembership:
    """Raises CloudEventError (the record is poison) without a customer or a segment."""
    ce = from_kafka(value, headers)
    data = ce.data
    customer_id = data.get("customer_id") or ce.subject
    segment = data.get("segment")
    if not customer_id or not isinstance(segment, str) or not segment:
        raise CloudEventError("segment membership without customer_id or segment")
    return SegmentMembership(
        event_id=ce.id,
        type=ce.type,
        customer_id=customer_id,
        occurred_at=data_time(data.get("occurred_at") or ce.time, "occurred_at"),
        segment=segment,
    )
