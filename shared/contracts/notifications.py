"""clm.notifications.v1: every decision about a message, published by notify.

Model (`NotificationData`) and encoder (`outbox_row`, `record`) of the one message, in one
place.
"""

from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict

from shared.cloudevents import CloudEvent, HeaderEncoder, KafkaRecord, to_kafka
from shared.outbox import EncodedRow
from shared.topics import NOTIFICATIONS

TOPIC = NOTIFICATIONS
SOURCE = "/clm/notify"
SCHEMA = "urn:clm:schema:notification:v1"
TYPE_PREFIX = "clm.notify.message_"
HEADERS = HeaderEncoder(SOURCE, dataschema=SCHEMA)


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


def outbox_row(id: str, customer_id: str, status: str, at: str, data: dict[str, Any]) -> EncodedRow:
    """The decision as the outbox keeps it (what the relay publishes as `record`'s record);
    `at` is RFC 3339 text (the CloudEvent time), formatted once for a batch's decisions."""
    return (
        customer_id.encode(),
        orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS),
        HEADERS.json(id, customer_id, at, type=f"{TYPE_PREFIX}{status}"),
    )
