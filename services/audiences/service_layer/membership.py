"""Use case: bring segment memberships in line with the customers' views, publishing each
entry and exit through the outbox in the same transaction."""

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from services.audiences.adapters import store
from services.audiences.adapters.memberships_topic import membership_records
from services.audiences.domain.membership import MembershipChange, Reason, changes_of, diff
from shared.outbox import enqueue

from .metrics import MEMBERSHIP_CHANGES

SERVICE = "audiences"


async def reconcile(
    conn: AsyncConnection,
    segments: Sequence[store.Segment],
    ids: Collection[str],
    now: datetime,
    reason: Reason,
) -> list[MembershipChange]:
    """Re-evaluates these customers (their rows locked by the caller) in every segment."""
    if not ids or not segments:
        return []
    current = await store.memberships(conn, ids)
    matching = await store.matching(conn, segments, ids, now)
    diffs = {s.name: diff(ids, current.get(s.name, {}), matching[s.name]) for s in segments}
    exited = await store.remove_memberships(
        conn, ((name, c) for name, d in diffs.items() for c in d.exited)
    )
    entered = await store.add_memberships(
        conn, ((name, c) for name, d in diffs.items() for c in d.entered), now
    )
    changes: list[MembershipChange] = []
    for segment in segments:
        name = segment.name
        changes += changes_of(name, entered.get(name, {}), exited.get(name, {}), reason, now)
    await publish(conn, changes)
    return changes


async def publish(conn: AsyncConnection, changes: Sequence[MembershipChange]) -> None:
    await enqueue(conn, SERVICE, membership_records(changes))
    for change in changes:
        MEMBERSHIP_CHANGES.labels(change.change.value, change.reason.value).inc()
