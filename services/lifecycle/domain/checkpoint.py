"""Where a customer's replay stood right after its last fact, so that later facts can resume it.

Facts that all come after that moment extend the replay instead of starting it over; any
other change (a late fact, different rules, an unknown format) means a full replay.
A checkpoint may also carry a `ClockMark`: where the same replay stood once the clock had
run on to the derivation's moment, so that the clock alone resumes from there next time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.lifecycle.domain.facts import CustomerFacts
from services.lifecycle.domain.rules import LifecycleRules
from services.lifecycle.domain.transitions import Transition

CHECKPOINT_FORMAT_VERSION = 3  # 2: flag reasons as bits; 3: histories open with the entry


@dataclass(frozen=True, slots=True)
class ClockMark:
    """Where the replay stood at a moment after its last fact, every fact replayed."""

    history_len: int
    replay: Mapping[str, Any]
    """The variables a clock can change, JSON-ready ("t": the moment the clock had reached);
    the others are the checkpoint's own."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    rules_key: str
    points_consumed: int
    history_len: int
    replay: Mapping[str, Any]
    """The replay's own variables, JSON-ready."""
    points_total: int | None = None
    """How many points the facts held when it was taken (None: not recorded); equal to
    `points_consumed` when every fact was replayed, so that only the clock can move it on."""
    clock: ClockMark | None = None
    """Set when clocks fired after the last fact: a clock-only resume starts there instead."""

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "v": CHECKPOINT_FORMAT_VERSION,
            "rules": self.rules_key,
            "points": self.points_consumed,
            "history": self.history_len,
            "replay": self.replay,
        }
        if self.points_total is not None:
            document["total"] = self.points_total
        if self.clock is not None:
            document["clock"] = {"history": self.clock.history_len, "replay": self.clock.replay}
        return document

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> Checkpoint | None:
        """None for a missing or unknown format: the caller then replays in full."""
        if not raw or raw.get("v") != CHECKPOINT_FORMAT_VERSION:
            return None
        clock = raw.get("clock")
        return cls(
            raw["rules"],
            raw["points"],
            raw["history"],
            raw["replay"],
            raw.get("total"),
            None if clock is None else ClockMark(clock["history"], clock["replay"]),
        )


@dataclass(frozen=True, slots=True)
class Resume:
    """An earlier derivation of a customer: the facts it saw, its history and its checkpoint."""

    facts: CustomerFacts
    history: Sequence[Transition]
    checkpoint: Checkpoint


_KEYS: dict[int, tuple[LifecycleRules, str]] = {}


def rules_key(rules: LifecycleRules) -> str:
    # Keyed by identity: hashing a pydantic model walks every field, on every derive.
    entry = _KEYS.get(id(rules))
    if entry is not None and entry[0] is rules:
        return entry[1]
    key = hashlib.sha1(rules.model_dump_json().encode()).hexdigest()[:16]
    if len(_KEYS) >= 64:
        _KEYS.clear()
    _KEYS[id(rules)] = (rules, key)
    return key
