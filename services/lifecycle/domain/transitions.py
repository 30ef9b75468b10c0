"""A change in a customer's stage, flags or tier, as it appears in the history."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple, overload

import orjson

from services.lifecycle.domain.moments import iso, parse_utc
from services.lifecycle.domain.stages import Flag, Reason, Stage, Tier

CLOCK = "clock"
"""`cause_event_id` of transitions that became due with the passing of time."""

TRANSITION_NAMESPACE = uuid.UUID("5b0c6f3e-2f43-4c1e-9a51-6f1d3c8e7a10")
_NAMESPACE_BYTES = TRANSITION_NAMESPACE.bytes


class TransitionKind(StrEnum):
    STAGE = "stage"
    FLAG = "flag"
    TIER = "tier"


class Transition(NamedTuple):  # a tuple: built for every replayed change, and far cheaper
    """`from_stage`/`to_stage` of flag and tier changes both name the stage they happened in;
    `from_stage` is None only for the entry into acquisition, a customer's first transition."""

    id: str
    customer_id: str
    kind: TransitionKind
    from_stage: Stage | None
    to_stage: Stage
    flag: Flag | None
    flag_value: bool | None
    from_tier: Tier | None
    to_tier: Tier | None
    occurred_at: datetime
    reason: Reason
    cause_event_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "customer_id": self.customer_id,
            "kind": self.kind.value,
            "from_stage": self.from_stage.value if self.from_stage else None,
            "to_stage": self.to_stage.value,
            "flag": self.flag.value if self.flag else None,
            "flag_value": self.flag_value,
            "from_tier": self.from_tier.value if self.from_tier else None,
            "to_tier": self.to_tier.value if self.to_tier else None,
            "occurred_at": iso(self.occurred_at),
            "reason": self.reason.value,
            "cause_event_id": self.cause_event_id,
        }

    def to_line(self) -> str:
        """The stored form: compact JSON with the id first (`StoredHistory` reads it unparsed)."""
        return orjson.dumps(self.to_json()).decode()

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Transition:
        # Dict lookups, not enum calls (1.1 us each, 6 per item): every stored history item
        # the scheduler resumes is parsed here.
        flag, from_tier, to_tier = raw.get("flag"), raw.get("from_tier"), raw.get("to_tier")
        from_stage = raw["from_stage"]
        return cls(
            id=raw["id"],
            customer_id=raw["customer_id"],
            kind=_KINDS[raw["kind"]],
            from_stage=_STAGES[from_stage] if from_stage else None,
            to_stage=_STAGES[raw["to_stage"]],
            flag=_FLAGS[flag] if flag else None,
            flag_value=raw.get("flag_value"),
            from_tier=_TIERS[from_tier] if from_tier else None,
            to_tier=_TIERS[to_tier] if to_tier else None,
            occurred_at=parse_utc(raw["occurred_at"]),
            reason=_REASONS[raw["reason"]],
            cause_event_id=raw["cause_event_id"],
        )


_KINDS = {kind.value: kind for kind in TransitionKind}
_STAGES = {stage.value: stage for stage in Stage}
_FLAGS = {flag.value: flag for flag in Flag}
_TIERS = {tier.value: tier for tier in Tier}
_REASONS = {reason.value: reason for reason in Reason}


class _IndexedHistory(Sequence[Transition]):
    """A history whose items are produced one at a time by `_item` (index already in range)."""

    __slots__ = ()

    def _item(self, index: int) -> Transition:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> Transition: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Transition, ...]: ...

    def __getitem__(self, index: int | slice) -> Transition | tuple[Transition, ...]:
        size = len(self)
        if isinstance(index, slice):
            return tuple(self._item(i) for i in range(*index.indices(size)))
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError("history index out of range")
        return self._item(index)


class StoredHistory(_IndexedHistory):
    """A history as stored: one compact JSON object per line, each parsed only when it is read.

    A re-derivation mostly needs the ids (ids name the whole transition), so a loaded
    history does not pay for parsing items that are merely compared or written back; and a
    re-evaluation that keeps it as it was (`same_history`) does not even split the text.
    """

    __slots__ = ("_ids", "_lines", "_parsed", "_text")

    def __init__(self, lines: Sequence[str]) -> None:
        self._text = ""
        self._lines: tuple[str, ...] | None = tuple(lines)
        self._ids: tuple[str, ...] | None = None
        self._parsed: list[Transition | None] | None = None

    @classmethod
    def from_text(cls, text: str) -> StoredHistory:
        history = cls(())
        history._text, history._lines = text, None  # split when first read
        return history

    @property
    def lines(self) -> tuple[str, ...]:
        if self._lines is None:
            self._lines = tuple(self._text.split("\n")) if self._text else ()
        return self._lines

    @property
    def ids(self) -> tuple[str, ...]:
        if self._ids is None:
            self._ids = tuple(_id_of(line) for line in self.lines)
        return self._ids

    def __len__(self) -> int:
        if self._lines is None:
            return self._text.count("\n") + 1 if self._text else 0
        return len(self._lines)

    def _item(self, index: int) -> Transition:
        if self._parsed is None:
            self._parsed = [None] * len(self)
        parsed = self._parsed[index]
        if parsed is None:
            parsed = self._parsed[index] = Transition.from_json(orjson.loads(self.lines[index]))
        return parsed


_ID_AT = len('{"id":"')


def _id_of(line: str) -> str:
    # `to_line` writes the id first, so it is read without parsing the line.
    end = line.find('"', _ID_AT) if line.startswith('{"id":"') else -1
    return line[_ID_AT:end] if end > 0 else str(orjson.loads(line)["id"])


def history_text(lines: Sequence[str]) -> str:
    """A history as stored: its items' lines (`Transition.to_line`), in order."""
    return "\n".join(lines)


def parse_history_text(text: str) -> list[dict[str, Any]]:
    """The stored items as JSON objects, for readers that show them as they are."""
    return [orjson.loads(line) for line in text.split("\n")] if text else []


class History(_IndexedHistory):
    """A derived history that resumed a stored one: its first `prefix_len` stored items, each
    parsed only when read, then the transitions derived after them."""

    __slots__ = ("_ids", "_prefix", "_prefix_len", "_tail")

    def __init__(self, prefix: StoredHistory, prefix_len: int, tail: Sequence[Transition]):
        self._prefix, self._prefix_len, self._tail = prefix, prefix_len, tuple(tail)
        self._ids: tuple[str, ...] | None = None

    @property
    def ids(self) -> tuple[str, ...]:
        if self._ids is None:
            self._ids = self._prefix.ids[: self._prefix_len] + tuple(t.id for t in self._tail)
        return self._ids

    def keeps_all_of(self, stored: StoredHistory) -> bool:
        """Is this `stored` itself, every item kept and nothing added (no id need be read)?"""
        return self._prefix is stored and self._prefix_len == len(stored) and not self._tail

    def appended_to(self, stored: StoredHistory) -> tuple[Transition, ...] | None:
        """What this history adds after every item of `stored`, or None when it does not keep
        all of them (the clock alone mostly appends: then nothing stored is read or rewritten)."""
        if self._prefix is stored and self._prefix_len == len(stored):
            return self._tail
        return None

    def __len__(self) -> int:
        return self._prefix_len + len(self._tail)

    def _item(self, index: int) -> Transition:
        if index < self._prefix_len:
            return self._prefix._item(index)
        return self._tail[index - self._prefix_len]

    def __eq__(self, other: object) -> bool:
        # Equal to any sequence of the same transitions, as the tuple it stands for.
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"History({tuple(self)!r})"


def same_history(history: Sequence[Transition], stored: StoredHistory) -> bool:
    """The same transitions as `stored` (a transition's id names all of its fields)."""
    if isinstance(history, History) and history.keeps_all_of(stored):
        return True
    return ids_of(history) == stored.ids


def ids_of(history: Sequence[Transition]) -> tuple[str, ...]:
    if isinstance(history, StoredHistory | History):
        return history.ids
    return tuple(t.id for t in history)


def transition_id(
    customer_id: str,
    kind: TransitionKind,
    from_stage: Stage | None,
    to_stage: Stage,
    flag: Flag | None,
    flag_value: bool | None,
    from_tier: Tier | None,
    to_tier: Tier | None,
    occurred_at: datetime,
    reason: Reason,
    cause_event_id: str,
) -> str:
    """A name-based UUID: the same transition always gets the same id."""
    # StrEnum members are already their text value.
    parts = [
        customer_id,
        kind,
        from_stage or "",
        to_stage,
        flag or "",
        "" if flag_value is None else ("true" if flag_value else "false"),
        from_tier or "",
        to_tier or "",
        iso(occurred_at),
        reason,
        cause_event_id,
    ]
    return stable_uuid("\x1f".join(parts))


def stable_uuid(name: str) -> str:
    """uuid5(TRANSITION_NAMESPACE, name) as text, without the cost of building a UUID."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    hexed = digest.hex()
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"
