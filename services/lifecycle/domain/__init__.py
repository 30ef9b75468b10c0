"""The lifecycle domain: stage, flags and tier as a pure function of (facts, rules, clock)."""

from services.lifecycle.domain.changes import Change, changes_between
from services.lifecycle.domain.checkpoint import Checkpoint, Resume
from services.lifecycle.domain.engine import (
    CLOCK_ONLY_FIELDS,
    LifecycleState,
    derive,
    derive_by_clock,
    derive_resuming,
    next_due,
)
from services.lifecycle.domain.facts import CustomerFacts, DomainEvent, EventType, apply, apply_all
from services.lifecycle.domain.rules import LifecycleRules, RulesError, load_rules
from services.lifecycle.domain.stages import Flag, LifecyclePattern, Reason, Stage, Tier
from services.lifecycle.domain.transitions import CLOCK, Transition, TransitionKind

__all__ = [
    "CLOCK",
    "CLOCK_ONLY_FIELDS",
    "Change",
    "Checkpoint",
    "CustomerFacts",
    "DomainEvent",
    "EventType",
    "Flag",
    "LifecyclePattern",
    "LifecycleRules",
    "LifecycleState",
    "Reason",
    "Resume",
    "RulesError",
    "Stage",
    "Tier",
    "Transition",
    "TransitionKind",
    "apply",
    "apply_all",
    "changes_between",
    "derive",
    "derive_by_clock",
    "derive_resuming",
    "load_rules",
    "next_due",
]
