"""Segment entries and exits as records of clm.segment-memberships.v1 (shared contract)."""

from collections.abc import Iterable

from services.audiences.domain.membership import MembershipChange
from shared.cloudevents import KafkaRecord
from shared.contracts import segment_memberships


def membership_record(change: MembershipChange) -> KafkaRecord:
    return segment_memberships.record(
        change.event_id,
        change.customer_id,
        change.segment,
        change.change.value,
        change.reason.value,
        change.entered_at,
        change.at,
    )


def membership_records(changes: Iterable[MembershipChange]) -> list[KafkaRecord]:
    return [membership_record(c) for c in changes]
