"""Segment entries and exits as CloudEvents on clm.segment-memberships.v1 (key = customer_id)."""

from collections.abc import Iterable

from services.audiences.domain.membership import MembershipChange
from shared.cloudevents import CloudEvent, KafkaRecord, to_kafka
from shared.topics import SEGMENT_MEMBERSHIPS

SOURCE = "/clm/audiences"
SCHEMA = "urn:clm:schema:segment-membership:v1"
TYPE_PREFIX = "clm.audiences.segment_"  # + entered | exited


def membership_record(change: MembershipChange) -> KafkaRecord:
    data = {
        "customer_id": change.customer_id,
        "segment": change.segment,
        "change": change.change.value,
        "reason": change.reason.value,
        "entered_at": change.entered_at.isoformat(),
        "occurred_at": change.at.isoformat(),
    }
    event = CloudEvent(
        id=change.event_id,
        source=SOURCE,
        type=f"{TYPE_PREFIX}{change.change.value}",
        subject=change.customer_id,
        time=change.at,
        data=data,
        dataschema=SCHEMA,
    )
    return to_kafka(SEGMENT_MEMBERSHIPS, event)


def membership_records(changes: Iterable[MembershipChange]) -> list[KafkaRecord]:
    return [membership_record(c) for c in changes]
