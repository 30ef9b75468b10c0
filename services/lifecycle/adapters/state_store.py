"""Loads and saves customers' facts, derived state and transition log (set-based, per batch).

Hot-path statements go straight to asyncpg inside the transaction SQLAlchemy began: one
round trip per statement with array parameters (`= ANY`, `unnest`), JSON handled by orjson
as text, so the cost does not grow with SQL text or per-row bind parameters.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.lifecycle.adapters.fact_codec import event_from_text, event_to_text
from services.lifecycle.adapters.snapshot_codec import (
    checkpoint_from_json,
    checkpoint_to_json,
    with_clock_mark,
)
from services.lifecycle.domain import (
    CLOCK_ONLY_FIELDS,
    Change,
    Checkpoint,
    CustomerFacts,
    LifecycleState,
    Resume,
)
from services.lifecycle.domain.contact_keys import ContactKeys
from services.lifecycle.domain.engine import Folded
from services.lifecycle.domain.facts import DomainEvent, apply_all
from services.lifecycle.domain.rules import LifecycleRules
from services.lifecycle.domain.transitions import (
    History,
    StoredHistory,
    Transition,
    history_text,
    ids_of,
    same_history,
)
from shared.db import asyncpg_connection
from shared.outbox import write_encoded

from .tables import fact_rows


@dataclass(frozen=True, slots=True)
class Stored:
    """A customer's row as loaded: facts, checkpoint, and the history (parsed as it is read)."""

    facts: CustomerFacts
    checkpoint: Checkpoint | None
    history: StoredHistory

    def resume(self) -> Resume | None:
        return (
            None if self.checkpoint is None else Resume(self.facts, self.history, self.checkpoint)
        )


@dataclass(frozen=True, slots=True)
class Derived:
    """What to save for a customer; `loaded` (when there was a row) lets unchanged parts be reused."""

    facts: CustomerFacts
    state: LifecycleState
    checkpoint: Checkpoint | None
    loaded: Stored | None


_driver = asyncpg_connection  # the asyncpg connection under a SQLAlchemy one


_LOAD = """
SELECT customer_id, facts, checkpoint, history,
       ARRAY(SELECT body FROM lifecycle_facts f WHERE f.customer_id = c.customer_id)
FROM lifecycle_customers AS c
WHERE customer_id = ANY($1::text[])
ORDER BY customer_id
FOR UPDATE
"""  # one lock order avoids deadlocks between instances

# What an in-order event needs: the checkpoint alone (neither facts nor history are read).
_LOAD_CHECKPOINTS = """
SELECT customer_id, checkpoint FROM lifecycle_customers
WHERE customer_id = ANY($1::text[])
ORDER BY customer_id
FOR UPDATE
"""

# Not the facts: a due customer has had no new fact since its last derive, so the clock alone
# moves it on from its checkpoint (the facts are loaded for the few it cannot).
_CLAIM_DUE = """
SELECT customer_id, first_seen_at, checkpoint, history
FROM lifecycle_customers
WHERE next_due_at <= $1
ORDER BY next_due_at
LIMIT $2
FOR UPDATE SKIP LOCKED
"""


def _checkpoint(text: str | None, rules: LifecycleRules) -> Checkpoint | None:
    # A row without one (or with an unknown format) is simply replayed in full.
    return None if text is None else checkpoint_from_json(orjson.loads(text), rules)


def _due(row: Sequence[Any], rules: LifecycleRules) -> "Due":
    document = None if row[2] is None else orjson.loads(row[2])
    checkpoint = checkpoint_from_json(document, rules)
    history = StoredHistory.from_text(row[3])
    return Due(row[0], row[1], checkpoint, history, document if checkpoint else None)


def facts_with_rows(customer_id: str, document: str, later: Iterable[str]) -> CustomerFacts:
    """A customer's facts: its stored document with the fact rows appended after it."""
    events = [event_from_text(customer_id, text) for text in later]
    return apply_all(CustomerFacts.from_json(orjson.loads(document)), events)


def _stored(
    customer_id: str,
    facts: str,
    checkpoint: str | None,
    history: str,
    later: list[str],
    rules: LifecycleRules,
) -> Stored:
    return Stored(
        facts_with_rows(customer_id, facts, later),
        _checkpoint(checkpoint, rules),
        StoredHistory.from_text(history),
    )


def _facts_json(derived: Derived) -> str:
    if derived.facts is _UNCHANGED_FACTS:
        raise AssertionError("facts that were not read cannot be written")
    return orjson.dumps(derived.facts.to_json()).decode()


def _checkpoint_json(derived: Derived) -> str | None:
    checkpoint = derived.checkpoint
    return None if checkpoint is None else orjson.dumps(checkpoint_to_json(checkpoint)).decode()


async def load_for_update(
    conn: AsyncConnection, ids: Sequence[str], rules: LifecycleRules
) -> dict[str, Stored]:
    """Each customer's facts (its document and the fact rows after it), checkpoint, history."""
    rows = await (await _driver(conn)).fetch(_LOAD, list(ids))
    return {r[0]: _stored(r[0], r[1], r[2], r[3], r[4], rules) for r in rows}


async def load_checkpoints(
    conn: AsyncConnection, ids: Sequence[str], rules: LifecycleRules
) -> dict[str, Checkpoint | None]:
    """Locks the stored customers among `ids` and reads their checkpoints only."""
    rows = await (await _driver(conn)).fetch(_LOAD_CHECKPOINTS, list(ids))
    return {r[0]: _checkpoint(r[1], rules) for r in rows}


@dataclass(frozen=True, slots=True)
class Due:
    """A customer claimed for re-evaluation, without its facts (see `_CLAIM_DUE`)."""

    customer_id: str
    first_seen_at: datetime | None
    checkpoint: Checkpoint | None
    history: StoredHistory
    document: dict[str, Any] | None = None
    """The checkpoint as read (JSON): written back with only its clock mark encoded anew."""

    def as_stored(self) -> Stored:
        """What the derive left stored, its facts standing in unchanged (never rewritten)."""
        return Stored(_UNCHANGED_FACTS, self.checkpoint, self.history)


# Stands in for facts that are not read: `save_evaluated` keeps the stored document.
_UNCHANGED_FACTS = CustomerFacts("")


async def claim_due(
    conn: AsyncConnection, now: datetime, limit: int, rules: LifecycleRules
) -> list[Due]:
    """Locks up to `limit` customers whose next_due_at has passed (others' locks skipped)."""
    rows = await (await _driver(conn)).fetch(_CLAIM_DUE, now, limit)
    return [_due(r, rules) for r in rows]


_COLUMNS: tuple[tuple[str, str], ...] = (
    ("customer_id", "text"),
    ("stage", "text"),
    ("stage_since", "timestamptz"),
    ("flags", "text"),  # an array literal per row: unnest cannot take an array of arrays
    ("tier", "text"),
    ("lifecycle_pattern", "text"),
    ("reactivations", "int4"),
    ("first_seen_at", "timestamptz"),
    ("first_purchase_at", "timestamptz"),
    ("last_purchase_at", "timestamptz"),
    ("purchase_occasions", "int4"),
    ("total_spend", "numeric"),
    ("trailing_spend", "numeric"),
    ("churn_risk", "float8"),
    ("facts", "text"),
    ("checkpoint", "text"),
    ("history", "text"),
    ("as_of", "timestamptz"),
    ("next_due_at", "timestamptz"),
)
_CASTS = {"flags": "::varchar(32)[]"}
_NAMES = [name for name, _ in _COLUMNS]
_SELECTED = ", ".join("u." + name + _CASTS.get(name, "") for name in _NAMES)
_ARRAYS = ", ".join(f"${i}::{pg_type}[]" for i, (_, pg_type) in enumerate(_COLUMNS, 1))
_ROWS = f"unnest({_ARRAYS}) AS u({', '.join(_NAMES)})"
_UPSERT = (
    f"INSERT INTO lifecycle_customers ({', '.join(_NAMES)}, updated_at) "
    f"SELECT {_SELECTED}, now() FROM {_ROWS} "
    "ON CONFLICT (customer_id) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in _NAMES[1:])
    + ", updated_at = now()"
)
_INSERT_NEW = (
    f"INSERT INTO lifecycle_customers ({', '.join(_NAMES)}, updated_at) "
    f"SELECT {_SELECTED}, now() FROM {_ROWS} "
    "ON CONFLICT (customer_id) DO NOTHING RETURNING customer_id"
)
# Re-evaluated rows exist (they were claimed); a NULL document means "unchanged, keep it".
# The checkpoint is written with the facts it was taken of (it may be NULL with them), or
# alone when only its clock mark moved (the scheduler does not read the facts).
_KEPT_WHEN_NULL = {
    "facts": "COALESCE(u.facts, c.facts)",
    "checkpoint": (
        "CASE WHEN u.facts IS NULL THEN COALESCE(u.checkpoint, c.checkpoint) ELSE u.checkpoint END"
    ),
    "history": "COALESCE(u.history, c.history)",
}
_UPDATE = (
    "UPDATE lifecycle_customers AS c SET "
    + ", ".join(
        f"{name} = {_KEPT_WHEN_NULL.get(name) or 'u.' + name + _CASTS.get(name, '')}"
        for name in _NAMES[1:]
    )
    + f", updated_at = now() FROM {_ROWS} WHERE c.customer_id = u.customer_id"
)

# A re-evaluation that kept a seen customer's facts and history changed only the columns the
# clock alone moves (CLOCK_ONLY_FIELDS): those are all it writes.
_CLOCK_ONLY = [(name, pg_type) for name, pg_type in _COLUMNS if name in CLOCK_ONLY_FIELDS]
assert [name for name, _ in _CLOCK_ONLY] == list(CLOCK_ONLY_FIELDS), "save_evaluated's order"
_UPDATE_CLOCK_ONLY = (
    "UPDATE lifecycle_customers AS c SET "
    + ", ".join(f"{name} = u.{name}" for name, _ in _CLOCK_ONLY)
    + ", updated_at = now() FROM unnest($1::text[], "
    + ", ".join(f"${i}::{pg_type}[]" for i, (_, pg_type) in enumerate(_CLOCK_ONLY, 2))
    + f") AS u(customer_id, {', '.join(name for name, _ in _CLOCK_ONLY)}) "
    "WHERE c.customer_id = u.customer_id"
)


def _history_text(state: LifecycleState, stored: Stored | None) -> str:
    """The history as stored, reusing the stored lines of unchanged items."""
    history = state.history
    if stored is None:
        return history_text([t.to_line() for t in history])
    known = dict(zip(stored.history.ids, stored.history.lines, strict=True))
    return history_text(
        [known.get(id_) or history[i].to_line() for i, id_ in enumerate(ids_of(history))]
    )


def _same_history(state: LifecycleState, stored: Stored) -> bool:
    return same_history(state.history, stored.history)


def _columns(results: Iterable[Derived], keep_unchanged: bool) -> list[list[Any]]:
    columns: list[list[Any]] = [[] for _ in _COLUMNS]
    for derived in results:
        state, loaded = derived.state, derived.loaded
        facts_kept = checkpoint_kept = history_kept = False
        if keep_unchanged and loaded is not None:
            checkpoint_kept = derived.checkpoint is loaded.checkpoint
            # A checkpoint dropped with unchanged facts is cleared by writing the facts too.
            facts_kept = derived.facts is loaded.facts and (
                checkpoint_kept or derived.checkpoint is not None
            )
            history_kept = _same_history(state, loaded)
        row = (
            state.customer_id,
            *_state_values(state),
            None if facts_kept else _facts_json(derived),
            None if facts_kept and checkpoint_kept else _checkpoint_json(derived),
            None if history_kept else _history_text(state, loaded),
            state.as_of,
            state.next_due_at,
        )
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return columns


def _state_values(state: LifecycleState) -> tuple[Any, ...]:
    """The derived columns, stage to churn_risk, in `_COLUMNS` order."""
    return (
        state.stage.value,
        state.stage_since,
        "{" + ",".join(sorted(f.value for f in state.flags)) + "}",
        state.tier.value,
        state.lifecycle_pattern.value if state.lifecycle_pattern else None,
        state.reactivations,
        state.first_seen_at,
        state.first_purchase_at,
        state.last_purchase_at,
        state.purchase_occasions,
        state.total_spend,
        state.trailing_spend,
        state.churn_risk,
    )


async def save(conn: AsyncConnection, results: Sequence[Derived]) -> set[str]:
    """Writes each customer's facts, checkpoint and derived state; the facts document then
    holds every fact, so the customer's fact rows are deleted.

    A customer that had no row is inserted unless another transaction stored it meanwhile
    (there was no row to lock): those come back, left as the other one wrote them, for the
    caller to derive again from what is stored now."""
    if not results:
        return set()
    driver = await _driver(conn)
    known = [d for d in results if d.loaded is not None]
    new = [d for d in results if d.loaded is None]
    if known:
        await driver.execute(_UPSERT, *_columns(known, keep_unchanged=False))
        await driver.execute(_DELETE_FACT_ROWS, [d.state.customer_id for d in known])
    if not new:
        return set()
    # Waits for a transaction inserting the same customer, then leaves its row alone.
    inserted = await driver.fetch(_INSERT_NEW, *_columns(new, keep_unchanged=False))
    return {d.state.customer_id for d in new} - {r[0] for r in inserted}


_DELETE_FACT_ROWS = "DELETE FROM lifecycle_facts WHERE customer_id = ANY($1::text[])"
_INSERT_FACT_ROWS = """
INSERT INTO lifecycle_facts (customer_id, event_id, body)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
ON CONFLICT DO NOTHING
"""
# Folded customers: their state columns and checkpoint, the new transitions appended to the
# history (the stored lines are not read into the service), the facts document untouched.
_FOLDED = [(name, pg_type) for name, pg_type in _COLUMNS if name != "facts"]
_FOLDED_NAMES = [name for name, _ in _FOLDED]
_APPENDED = (
    "CASE WHEN u.history = '' THEN c.history WHEN c.history = '' THEN u.history "
    "ELSE c.history || E'\\n' || u.history END"
)


def _update_from_arrays(set_to: Mapping[str, str]) -> str:
    """One UPDATE for a whole batch from its column arrays (`_FOLDED`, in order); `set_to`
    gives a column's new value where it is not simply the array's."""
    return (
        "UPDATE lifecycle_customers AS c SET "
        + ", ".join(
            f"{name} = {set_to.get(name) or 'u.' + name + _CASTS.get(name, '')}"
            for name in _FOLDED_NAMES[1:]
        )
        + ", updated_at = now() FROM unnest("
        + ", ".join(f"${i}::{pg_type}[]" for i, (_, pg_type) in enumerate(_FOLDED, 1))
        + f") AS u({', '.join(_FOLDED_NAMES)}) WHERE c.customer_id = u.customer_id"
    )


_UPDATE_FOLDED = _update_from_arrays({"history": _APPENDED})


async def save_folded(
    conn: AsyncConnection, folded: Sequence[tuple[Folded, Sequence[DomainEvent]]]
) -> None:
    """Stores in-order events as fact rows and their folded state, appending transitions."""
    if not folded:
        return
    columns: list[list[Any]] = [[] for _ in _FOLDED]
    fact_rows: tuple[list[str], list[str], list[str]] = ([], [], [])
    for result, events in folded:
        state = result.state
        row = (
            state.customer_id,
            *_state_values(state),
            orjson.dumps(checkpoint_to_json(result.checkpoint)).decode(),
            history_text([t.to_line() for t in result.appended]),
            state.as_of,
            state.next_due_at,
        )
        for column, value in zip(columns, row, strict=True):
            column.append(value)
        for event in events:
            fact_rows[0].append(state.customer_id)
            fact_rows[1].append(event.event_id)
            fact_rows[2].append(event_to_text(event))
    driver = await _driver(conn)
    await driver.execute(_INSERT_FACT_ROWS, *fact_rows)
    await driver.execute(_UPDATE_FOLDED, *columns)


async def save_evaluated(
    conn: AsyncConnection,
    results: Sequence[Derived],
    documents: Mapping[str, dict[str, Any]] | None = None,
) -> None:
    """Updates re-evaluated customers, rewriting facts and history only where they changed.

    `documents`: the checkpoints as claimed (JSON), by customer: one that only the clock moved
    on is written back with only its clock mark encoded anew, and transitions that only add
    to the stored history are appended to it in SQL (neither is rewritten whole)."""
    clock_only: list[Derived] = []
    appended: list[tuple[Derived, tuple[Transition, ...]]] = []
    others: list[Derived] = []
    for derived in results:
        if _moved_by_clock_only(derived):
            clock_only.append(derived)
            continue
        added = _appended_by_clock(derived)
        if added is None:
            others.append(derived)
        else:
            appended.append((derived, added))
    driver = await _driver(conn)
    if others:
        await driver.execute(_UPDATE, *_columns(others, keep_unchanged=True))
    if appended:
        await driver.execute(_UPDATE_BY_CLOCK, *_by_clock_columns(appended, documents or {}))
    if clock_only:
        states = [d.state for d in clock_only]
        await driver.execute(
            _UPDATE_CLOCK_ONLY,
            [s.customer_id for s in states],
            [s.lifecycle_pattern.value if s.lifecycle_pattern else None for s in states],
            [s.trailing_spend for s in states],
            [s.as_of for s in states],
            [s.next_due_at for s in states],
        )


# Customers the clock alone moved on, their transitions appended to the stored history: the
# state columns, the checkpoint (NULL: kept as it was), the new history lines.
_UPDATE_BY_CLOCK = _update_from_arrays(
    {"checkpoint": "COALESCE(u.checkpoint, c.checkpoint)", "history": _APPENDED}
)


def _appended_by_clock(derived: Derived) -> tuple[Transition, ...] | None:
    """The transitions a clock-only derivation added after every stored one (None: it did
    something else, e.g. replayed facts or retracted a stored transition)."""
    loaded, history = derived.loaded, derived.state.history
    if (
        loaded is None
        or loaded.checkpoint is None
        or derived.facts is not loaded.facts
        or derived.checkpoint is None
        or derived.state.first_seen_at is None
        or not isinstance(history, History)
    ):
        return None
    added = history.appended_to(loaded.history)
    return added if added else None


def _by_clock_columns(
    appended: Sequence[tuple[Derived, tuple[Transition, ...]]],
    documents: Mapping[str, dict[str, Any]],
) -> list[list[Any]]:
    columns: list[list[Any]] = [[] for _ in _FOLDED]
    for derived, added in appended:
        state = derived.state
        row = (
            state.customer_id,
            *_state_values(state),
            _moved_checkpoint_json(derived, documents.get(state.customer_id)),
            history_text([t.to_line() for t in added]),
            state.as_of,
            state.next_due_at,
        )
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return columns


def _moved_checkpoint_json(derived: Derived, document: dict[str, Any] | None) -> str | None:
    """None when the checkpoint is the stored one; else its JSON, re-encoding only the clock
    mark when nothing else of it changed (`derive_by_clock` moves only the mark)."""
    checkpoint, loaded = derived.checkpoint, derived.loaded
    assert checkpoint is not None and loaded is not None
    stored = loaded.checkpoint
    if checkpoint is stored:
        return None
    if document is not None and stored is not None and _same_but_clock(checkpoint, stored):
        moved = with_clock_mark(document, checkpoint.clock)
        if moved is not None:
            return orjson.dumps(moved).decode()
    return _checkpoint_json(derived)


def _same_but_clock(checkpoint: Checkpoint, stored: Checkpoint) -> bool:
    return (
        checkpoint.state is stored.state
        and checkpoint.rules_key == stored.rules_key
        and checkpoint.points_consumed == stored.points_consumed
        and checkpoint.history_len == stored.history_len
        and checkpoint.points_total == stored.points_total
        and checkpoint.order_keys is stored.order_keys
        and checkpoint.ticket_ids is stored.ticket_ids
    )


def _moved_by_clock_only(derived: Derived) -> bool:
    loaded = derived.loaded
    return (
        loaded is not None
        and loaded.checkpoint is not None  # the stored state was derived from seen facts
        and derived.facts is loaded.facts
        and derived.checkpoint == loaded.checkpoint  # no fact was replayed since the last save
        and derived.state.first_seen_at is not None
        and _same_history(derived.state, loaded)
    )


_DELETE_RETRACTED = "DELETE FROM lifecycle_transitions WHERE id = ANY($1::text[])"
_INSERT_TRANSITIONS = """
INSERT INTO lifecycle_transitions
    (id, customer_id, kind, from_stage, to_stage, flag, occurred_at, reason, cause_event_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::timestamptz[], $8::text[], $9::text[])
ON CONFLICT (id) DO NOTHING
"""


async def record_changes(conn: AsyncConnection, changes: Sequence[Change]) -> None:
    retracted = [c.retracts for c in changes if c.retracts]
    new = [c for c in changes if not c.is_correction]
    if not retracted and not new:
        return
    driver = await _driver(conn)
    if retracted:
        await driver.execute(_DELETE_RETRACTED, retracted)
    if new:
        await driver.execute(
            _INSERT_TRANSITIONS,
            [c.id for c in new],
            [c.customer_id for c in new],
            [c.kind.value for c in new],
            [c.from_stage.value if c.from_stage else None for c in new],
            [c.to_stage.value if c.to_stage else None for c in new],
            [c.flag.value if c.flag else None for c in new],
            [c.occurred_at for c in new],
            [c.reason.value for c in new],
            [c.cause_event_id for c in new],
        )


_UPSERT_CONTACT_KEYS = """
INSERT INTO lifecycle_contact_keys (customer_id, email, phone, name)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
ON CONFLICT (customer_id) DO UPDATE
SET email = excluded.email, phone = excluded.phone, name = excluded.name
"""
_DELETE_CONTACT_KEYS = "DELETE FROM lifecycle_contact_keys WHERE customer_id = ANY($1::text[])"


async def save_contact_keys(conn: AsyncConnection, keys: Mapping[str, ContactKeys]) -> None:
    """Stores each customer's lookup keys; a customer left with none is no longer findable."""
    kept = {c: k for c, k in keys.items() if not k.empty}
    gone = [c for c, k in keys.items() if k.empty]
    driver = await _driver(conn)
    if kept:
        await driver.execute(
            _UPSERT_CONTACT_KEYS,
            list(kept),
            [k.email for k in kept.values()],
            [k.phone for k in kept.values()],
            [k.name for k in kept.values()],
        )
    if gone:
        await driver.execute(_DELETE_CONTACT_KEYS, gone)


async def enqueue(
    conn: AsyncConnection, service: str, topic: str, records: Sequence[tuple[bytes, bytes, str]]
) -> None:
    """Outbox rows (key, value, headers as JSON) through the shared outbox writer."""
    await write_encoded(conn, service, topic, records)


async def stored_facts(conn: AsyncConnection, customer_id: str, document: str) -> CustomerFacts:
    """A customer's facts for readers: the stored document with the fact rows after it."""
    rows = await conn.execute(
        sa.select(fact_rows.c.body).where(fact_rows.c.customer_id == customer_id)
    )
    return facts_with_rows(customer_id, document, rows.scalars())
