"""Message decisions as CloudEvents on clm.notifications.v1 (deterministic ids)."""

import zlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from services.notify.domain.keys import decision_event_id
from shared.cloudevents import KafkaRecord
from shared.contracts import notifications as contract


def decision_record(
    message: Mapping[str, Any], status: str, reason: str, at: datetime
) -> KafkaRecord:
    """`status` is scheduled | deferred | retrying | sent | failed | suppressed | cancelled."""
    due_at = message["due_at"]
    attempts = int(message.get("attempts") or 0)
    sequence_key = f"{attempts}:{due_at.isoformat() if isinstance(due_at, datetime) else due_at}"
    data = {
        "message_id": message["id"],
        "customer_id": message["customer_id"],
        "playbook": message["playbook"],
        "step": message["step"],
        "channel": message["channel"],
        "status": status,
        "reason": reason,
        "occurrence_id": message["occurrence_id"],
        "trigger_kind": message["trigger_kind"],
        "due_at": due_at.isoformat() if isinstance(due_at, datetime) else due_at,
        "attempts": attempts,
        "coupon": message.get("coupon"),
        "decided_at": at.isoformat(),
    }
    event_id = decision_event_id(message["id"], status, hash_free(sequence_key))
    return contract.record(event_id, message["customer_id"], status, at, data)


def hash_free(key: str) -> int:
    """A stable small integer for a string (Python's hash() is salted per process)."""
    return zlib.crc32(key.encode())


def decision_records(
    items: Iterable[tuple[Mapping[str, Any], str, str]], at: datetime
) -> list[KafkaRecord]:
    return [decision_record(m, status, reason, at) for m, status, reason in items]
