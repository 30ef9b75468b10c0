"""Where a customer's replay stood right after its last fact, so that later facts can resume it.

Facts that all come after that moment fold into the stored state instead of replaying the
customer from the start; any other change (a late fact, different rules) means a replay.
A checkpoint may also carry a `ClockMark`: where the same replay stood once the clock had
run on to the derivation's moment, so that the clock alone resumes from there next time.
How a checkpoint is stored is the storage adapter's business (`snapshot_codec.py`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.lifecycle.domain.facts import CustomerFacts
from services.lifecycle.domain.rules import LifecycleRules
from services.lifecycle.domain.transitions import Transition

if TYPE_CHECKING:
    from services.lifecycle.domain.customer_state import CustomerState


@dataclass(frozen=True, slots=True)
class ClockMark:
    """Where the replay stood at a moment after its last fact, every fact replayed."""

    history_len: int
    state: CustomerState
    """The state once the clock had reached `state.t`."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    rules_key: str
    points_consumed: int
    history_len: int
    state: CustomerState
    """The state right after the last replayed fact (a copy the engine never mutates)."""
    points_total: int | None = None
    """How many points the facts held when it was taken (None: not recorded); equal to
    `points_consumed` when every fact was replayed, so that only the clock can move it on."""
    clock: ClockMark | None = None
    """Set when clocks fired after the last fact: a clock-only resume starts there instead."""
    order_keys: frozenset[str] = frozenset()
    """The orders the facts knew (purchased or refunded): a purchase of one is an update."""
    ticket_ids: frozenset[str] = frozenset()
    """The complaint tickets the facts knew: a later event of one opens nothing new."""

    @property
    def stored_history_len(self) -> int:
        """How many transitions the derivation that stored it left in the history."""
        return self.clock.history_len if self.clock is not None else self.history_len

    @property
    def resumes_at(self) -> CustomerState:
        """The latest state it holds: at the clock mark, or right after the last fact."""
        return self.clock.state if self.clock is not None else self.state


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
