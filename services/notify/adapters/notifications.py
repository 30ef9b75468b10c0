"""Message decisions as CloudEvents on clm.notifications.v1 (deterministic ids)."""

import zlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.notify.domain.keys import decision_event_id
from shared.cloudevents import KafkaRecord
from shared.contracts import notifications as contract
from shared.outbox import EncodedRow, write_encoded

Decided = tuple[Mapping[str, Any], str, str]  # message, status, reason


def _decision(
    message: Mapping[str, Any], status: str, reason: str, decided_at: str
) -> tuple[str, dict[str, Any]]:
    """The decision's event id and data; `decided_at` is RFC 3339 text."""
    due_at = message["due_at"]
    due = due_at.isoformat() if isinstance(due_at, datetime) else due_at
    attempts = int(message.get("attempts") or 0)
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
        "due_at": due,
        "attempts": attempts,
        "coupon": message.get("coupon"),
        "decided_at": decided_at,
    }
    return decision_event_id(message["id"], status, hash_free(f"{attempts}:{due}")), data


def decision_record(
    message: Mapping[str, Any], status: str, reason: str, at: datetime
) -> KafkaRecord:
    """`status` is scheduled | deferred | retrying | sent | failed | suppressed | cancelled."""
    event_id, data = _decision(message, status, reason, at.isoformat())
    return contract.record(event_id, message["customer_id"], status, at, data)


def hash_free(key: str) -> int:
    """A stable small integer for a string (Python's hash() is salted per process)."""
    return zlib.crc32(key.encode())


def decision_records(items: Iterable[Decided], at: datetime) -> list[KafkaRecord]:
    return [decision_record(m, status, reason, at) for m, status, reason in items]


def decision_rows(items: Iterable[Decided], at: datetime) -> list[EncodedRow]:
    """The same decisions as `decision_records`, as the outbox keeps them (byte for byte what
    `enqueue` makes of those records): the batch's time is formatted once, and no Kafka
    headers are built only to be turned into the outbox's JSON text."""
    decided_at = at.isoformat()
    rows = []
    for message, status, reason in items:
        event_id, data = _decision(message, status, reason, decided_at)
        rows.append(contract.outbox_row(event_id, message["customer_id"], status, decided_at, data))
    return rows


async def enqueue_decisions(
    conn: AsyncConnection, service: str, items: Iterable[Decided], at: datetime
) -> None:
    """The decisions into `service`'s outbox, in order, in the caller's transaction."""
    await write_encoded(conn, service, contract.TOPIC, decision_rows(items, at))
