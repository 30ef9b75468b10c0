"""Lifecycle changes as CloudEvents on clm.lifecycle-changes.v1 (ids are the stable change ids).

Thin delegates to the message's contract (shared/contracts/lifecycle_changes.py).
"""

from collections.abc import Sequence

from services.lifecycle.domain import Change
from services.lifecycle.domain.moments import iso
from shared.cloudevents import KafkaRecord
from shared.contracts import lifecycle_changes as contract

SOURCE = contract.SOURCE
SCHEMA = contract.SCHEMA


def to_records(changes: Sequence[Change]) -> list[KafkaRecord]:
    return [
        contract.record(c.id, c.customer_id, c.event_type, c.occurred_at, c.data()) for c in changes
    ]


def to_outbox_rows(changes: Sequence[Change]) -> list[tuple[bytes, bytes, str]]:
    """(key, value, headers as JSON) per change: what `shared.outbox` stores for `to_records`."""
    row = contract.outbox_row
    return [row(c.id, c.customer_id, c.event_type, iso(c.occurred_at), c.data()) for c in changes]
