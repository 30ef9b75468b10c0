"""The small, named state the lifecycle rules read and the engine folds each fact into."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from services.lifecycle.domain.spend import QuarterlySpend, TrailingSpend
from services.lifecycle.domain.stages import Reason, Stage, Tier


@dataclass(slots=True)
class CustomerState:
    """One customer as the rules see it at moment `t` (every fact up to `t` folded in).

    `at_risk` and `upgrade` hold the causes that currently raise each flag, in priority
    order (the first names the reason of the flag's transition); empty means the flag is off.
    """

    first_seen_at: datetime
    t: datetime
    trailing: TrailingSpend
    quarterly: QuarterlySpend
    stage: Stage = Stage.ACQUISITION
    stage_since: datetime | None = None
    churned_from: Stage | None = None
    reactivations: int = 0
    long_lasting: bool = False
    first_purchase_at: datetime | None = None
    last_purchase_at: datetime | None = None
    occasion_days: list[date] = field(default_factory=list)
    gaps: list[int] = field(default_factory=list)
    """Days between consecutive purchase occasions, sorted (for the median)."""
    total_spend: Decimal = Decimal(0)
    categories_before_today: set[str] = field(default_factory=set)
    categories_today: set[str] = field(default_factory=set)
    new_category_at: datetime | None = None
    complaints: deque[datetime] = field(default_factory=deque)
    """When the complaints still inside the complaint window were opened, oldest first."""
    churn_risk: float | None = None
    at_risk: tuple[Reason, ...] = ()
    upgrade: tuple[Reason, ...] = ()
    tier: Tier = Tier.C
    usual_gap: tuple[object, timedelta] | None = field(default=None, compare=False, repr=False)
    """The rule `usual_gap` as last computed, with the thresholds it was computed for: it
    changes only with a new purchase occasion (which clears it), yet the clock reads it often."""

    @property
    def active(self) -> bool:
        return self.stage is Stage.DEVELOPMENT or self.stage is Stage.MAINTENANCE

    def copy(self) -> CustomerState:
        """An independent copy (a snapshot the engine may resume from)."""
        return CustomerState(
            first_seen_at=self.first_seen_at,
            t=self.t,
            trailing=self.trailing.copy(),
            quarterly=self.quarterly.copy(),
            stage=self.stage,
            stage_since=self.stage_since,
            churned_from=self.churned_from,
            reactivations=self.reactivations,
            long_lasting=self.long_lasting,
            first_purchase_at=self.first_purchase_at,
            last_purchase_at=self.last_purchase_at,
            occasion_days=list(self.occasion_days),
            gaps=list(self.gaps),
            total_spend=self.total_spend,
            categories_before_today=set(self.categories_before_today),
            categories_today=set(self.categories_today),
            new_category_at=self.new_category_at,
            complaints=deque(self.complaints),
            churn_risk=self.churn_risk,
            at_risk=self.at_risk,
            upgrade=self.upgrade,
            tier=self.tier,
            usual_gap=self.usual_gap,
        )
