"""Lifecycle changes as CloudEvents on clm.lifecycle-changes.v1 (ids are the stable change ids)."""

from collections.abc import Sequence

from services.lifecycle.domain import Change
from shared.cloudevents import CloudEvent, KafkaRecord, to_kafka
from shared.topics import LIFECYCLE_CHANGES

SOURCE = "/clm/lifecycle"
SCHEMA = "urn:clm:schema:lifecycle-change:v1"


def to_records(changes: Sequence[Change]) -> list[KafkaRecord]:
    return [
        to_kafka(
            LIFECYCLE_CHANGES,
            CloudEvent(
                id=c.id,
                source=SOURCE,
                type=c.event_type,
                subject=c.customer_id,
                time=c.occurred_at,
                data=c.data(),
                dataschema=SCHEMA,
            ),
        )
        for c in changes
    ]
