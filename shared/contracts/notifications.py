"""clm.notifications.v1: every decision about a message, published by notify.

Model (`NotificationData`) and encoder (`record`) of the one message, in one place.
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.cloudevents import CloudEvent, KafkaRecord, to_kafka
from shared.topics import NOTIFICATIONS

TOPIC = NOTIFICATIONS
SOURCE = "/clm/notify"
SCHEMA = "urn:clm:schema:notification:v1"
TYPE_PREFIX = "clm.notify.message_"


class NotificationData(BaseModel):
    """`clm.notify.message_<status>`: every decision about a message."""

    model_config = ConfigDict(extra="forbid")

    message_id: str
    customer_id: str
    playbook: str
    step: str | int
    channel: str
    status: Literal[
        "scheduled", "deferred", "retrying", "sent", "failed", "suppressed", "cancelled"
    ]
    reason: str
    occurrence_id: str
    trigger_kind: str
    due_at: datetime | str
    attempts: int
    coupon: str | None
    decided_at: datetime


def record(
    id: str, customer_id: str, status: str, at: datetime, data: dict[str, Any]
) -> KafkaRecord:
    """The decision as a Kafka record; `data` holds NotificationData's fields."""
    event = CloudEvent(id, SOURCE, f"{TYPE_PREFIX}{status}", customer_id, at, data, SCHEMA)
    return to_kafka(TOPIC, event)
