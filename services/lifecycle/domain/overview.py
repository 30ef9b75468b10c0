"""The customer base at a glance (GET /v1/reports/overview), folded from grouped counts.

Formulas (every figure is a count of customers or of changes, no currency):
- `customers`: customers with a lifecycle state.
- `stages[s]`, `tiers[t]`: customers whose current stage is s / tier is t (every stage and
  tier listed, 0 when none), so each sums to `customers`.
- `patterns[p]`: churned customers whose lifecycle pattern is p; customers never churned have
  no pattern and are counted in `patterns.none`.
- `at_risk.customers`: customers carrying the at_risk flag now; `at_risk.share` =
  at_risk.customers / customers (a fraction in [0, 1]; null when there are no customers).
- `transitions.items`: changes (stage, flag or tier) per UTC calendar day, kind and target,
  whose occurred_at is within the last `transitions.days` days.
"""

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from services.lifecycle.domain.stages import LifecyclePattern, Stage, Tier

NO_PATTERN = "none"


@dataclass(frozen=True, slots=True)
class CustomerGroup:
    """How many customers share one stage, tier, pattern and at-risk flag."""

    stage: Stage
    tier: Tier
    pattern: LifecyclePattern | None
    at_risk: bool
    customers: int


@dataclass(frozen=True, slots=True)
class DailyChanges:
    """How many changes of one kind and target happened on one UTC day (YYYY-MM-DD)."""

    day: str
    kind: str
    to_stage: Stage
    flag: str | None
    count: int


def overview(
    groups: list[CustomerGroup], changes: list[DailyChanges], days: int, as_of: datetime
) -> dict[str, Any]:
    stages = dict.fromkeys(Stage, 0)
    tiers = dict.fromkeys(Tier, 0)
    patterns: dict[str, int] = dict.fromkeys([*LifecyclePattern, NO_PATTERN], 0)
    at_risk = 0
    for group in groups:
        stages[group.stage] += group.customers
        tiers[group.tier] += group.customers
        patterns[group.pattern or NO_PATTERN] += group.customers
        at_risk += group.customers if group.at_risk else 0
    total = sum(stages.values())
    return {
        "as_of": as_of,
        "customers": total,
        "stages": stages,
        "tiers": tiers,
        "patterns": patterns,
        "at_risk": {"customers": at_risk, "share": at_risk / total if total else None},
        "transitions": {
            "days": days,
            "items": sorted(
                (asdict(c) for c in changes),
                key=lambda c: (c["day"], c["kind"], c["to_stage"], c["flag"] or ""),
            ),
        },
    }
