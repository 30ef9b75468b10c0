"""The lifecycle rules of DOMAIN.md, one small pure function each, over a `CustomerState`.

Each rule reads the state (and the configured thresholds) and says what holds or when it
next changes; `engine.py` applies what they say and records the transitions. The README's
rule table names these functions.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from services.lifecycle.domain.checkpoint import rules_key
from services.lifecycle.domain.customer_state import CustomerState
from services.lifecycle.domain.rules import LifecycleRules, TierRules
from services.lifecycle.domain.stages import (
    PATTERN_BY_CHURNED_FROM,
    LifecyclePattern,
    Reason,
    Stage,
    Tier,
)
from shared.business_calendar import BusinessCalendar


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The configured rules as durations and amounts, computed once per rules object."""

    key: str
    calendar: BusinessCalendar  # calendar days and quarters (CLM_BUSINESS_TIMEZONE)
    tiers: TierRules
    maintenance_window: timedelta
    maintenance_min_occasions: int
    churn_inactivity: timedelta
    early_abort: timedelta
    complaint_window: timedelta
    complaint_count: int
    churn_risk_threshold: float
    gap_floor_days: float
    usual_gap_multiplier: float
    min_occasions_for_usual_gap: int
    new_category_window: timedelta
    long_lasting: timedelta
    growth_factor: Decimal
    growth_quarters: int
    tier_window: timedelta

    @staticmethod
    def of(rules: LifecycleRules) -> Thresholds:
        # Keyed by identity: hashing a pydantic model walks every field, on every derive.
        entry = _THRESHOLDS.get(id(rules))
        if entry is not None and entry[0] is rules:
            return entry[1]
        thresholds = Thresholds(
            key=rules_key(rules),
            calendar=rules.calendar.business_calendar,
            tiers=rules.tiers,
            maintenance_window=timedelta(days=rules.stages.maintenance_window_days),
            maintenance_min_occasions=rules.stages.maintenance_min_occasions,
            churn_inactivity=timedelta(days=rules.stages.churn_inactivity_days),
            early_abort=timedelta(days=rules.stages.early_abort_days),
            complaint_window=timedelta(days=rules.at_risk.complaint_window_days),
            complaint_count=rules.at_risk.complaint_count,
            churn_risk_threshold=rules.at_risk.churn_risk_threshold,
            gap_floor_days=rules.at_risk.floor_days,
            usual_gap_multiplier=rules.at_risk.usual_gap_multiplier,
            min_occasions_for_usual_gap=rules.at_risk.min_occasions_for_usual_gap,
            new_category_window=timedelta(days=rules.upgrade.new_category_days),
            long_lasting=timedelta(days=rules.patterns.long_lasting_days),
            growth_factor=Decimal(1) + Decimal(str(rules.upgrade.growth_ratio)),
            growth_quarters=rules.upgrade.growth_quarters,
            tier_window=timedelta(days=rules.tiers.window_days),
        )
        if len(_THRESHOLDS) >= 64:
            _THRESHOLDS.clear()
        _THRESHOLDS[id(rules)] = (rules, thresholds)
        return thresholds


_THRESHOLDS: dict[int, tuple[LifecycleRules, Thresholds]] = {}

StageChange = tuple[Stage, Reason]


# --- stages: on a purchase ---------------------------------------------------------------


def first_purchase(s: CustomerState) -> StageChange | None:
    """A customer in acquisition who buys enters development."""
    return (Stage.DEVELOPMENT, Reason.FIRST_PURCHASE) if s.stage is Stage.ACQUISITION else None


def reactivation(s: CustomerState) -> StageChange | None:
    """A churned customer who buys again re-enters development (and counts a reactivation)."""
    return (Stage.DEVELOPMENT, Reason.REACTIVATED) if s.stage is Stage.CHURN else None


def repeat_purchases(s: CustomerState, r: Thresholds) -> StageChange | None:
    """Enough purchase occasions within the maintenance window move development on."""
    if s.stage is not Stage.DEVELOPMENT or not s.occasion_days:
        return None
    if recent_occasions(s, r, s.occasion_days[-1]) >= r.maintenance_min_occasions:
        return (Stage.MAINTENANCE, Reason.REPEAT_PURCHASES)
    return None


def recent_occasions(s: CustomerState, r: Thresholds, day: date) -> int:
    """Purchase occasions (calendar days) within the maintenance window up to `day`."""
    return len(s.occasion_days) - bisect_left(s.occasion_days, day - r.maintenance_window)


# --- stages: by the clock ------------------------------------------------------------------


def early_abort_due(s: CustomerState, r: Thresholds) -> datetime | None:
    """A customer who never buys churns `early_abort_days` after first being seen."""
    if s.stage is Stage.ACQUISITION and s.first_purchase_at is None:
        return s.first_seen_at + r.early_abort
    return None


def inactivity_churn_due(s: CustomerState, r: Thresholds) -> datetime | None:
    """An active customer churns `churn_inactivity_days` after the last purchase."""
    if s.active and s.last_purchase_at is not None:
        return s.last_purchase_at + r.churn_inactivity
    return None


# --- at_risk -------------------------------------------------------------------------------


def usual_gap(s: CustomerState, r: Thresholds) -> timedelta:
    """The gap that counts as unusual: the floor, or the multiplier times the median gap."""
    known = s.usual_gap
    if known is not None and known[0] is r:
        return known[1]
    days = r.gap_floor_days
    if len(s.occasion_days) >= r.min_occasions_for_usual_gap and s.gaps:
        days = max(days, r.usual_gap_multiplier * _median(s.gaps))
    gap = timedelta(days=days)
    s.usual_gap = (r, gap)  # until the next purchase occasion (the engine clears it)
    return gap


def at_risk_by_gap(s: CustomerState, r: Thresholds) -> bool:
    last = s.last_purchase_at
    return s.active and last is not None and s.t >= last + usual_gap(s, r)


def at_risk_by_gap_due(s: CustomerState, r: Thresholds) -> datetime | None:
    last = s.last_purchase_at
    if s.active and last is not None and Reason.INACTIVE_BEYOND_USUAL_GAP not in s.at_risk:
        return last + usual_gap(s, r)
    return None


def at_risk_by_complaints(s: CustomerState, r: Thresholds) -> bool:
    return s.active and len(s.complaints) >= r.complaint_count


def complaints_subside_due(s: CustomerState, r: Thresholds) -> datetime | None:
    """When the complaint whose leaving the window takes the count below the bar leaves it."""
    if Reason.COMPLAINTS not in s.at_risk:
        return None
    return s.complaints[len(s.complaints) - r.complaint_count] + r.complaint_window


def at_risk_by_churn_risk(s: CustomerState, r: Thresholds) -> bool:
    return s.active and s.churn_risk is not None and s.churn_risk > r.churn_risk_threshold


def at_risk_causes(s: CustomerState, r: Thresholds) -> tuple[Reason, ...]:
    """What raises at_risk now, in priority order (the first names the transition)."""
    causes = (
        (Reason.INACTIVE_BEYOND_USUAL_GAP, at_risk_by_gap(s, r)),
        (Reason.COMPLAINTS, at_risk_by_complaints(s, r)),
        (Reason.CHURN_RISK_SCORE, at_risk_by_churn_risk(s, r)),
    )
    return tuple(reason for reason, holds in causes if holds)


AT_RISK_CLEARED_BY = {
    Reason.INACTIVE_BEYOND_USUAL_GAP: Reason.ACTIVITY_RESUMED,
    Reason.COMPLAINTS: Reason.COMPLAINTS_SUBSIDED,
    Reason.CHURN_RISK_SCORE: Reason.CHURN_RISK_LOWERED,
}


# --- upgrade_candidate ---------------------------------------------------------------------


def spend_growth(s: CustomerState, r: Thresholds) -> bool:
    """Spend grew by the ratio in each of the last `growth_quarters` completed quarters."""
    return s.active and s.quarterly.grew_before(r.calendar.quarter(s.t))


def spend_growth_change_due(s: CustomerState, r: Thresholds) -> datetime | None:
    """The next quarter start at which the spend-growth signal flips."""
    if not s.active:
        return None
    growing = Reason.SPEND_GROWTH in s.upgrade
    current = r.calendar.quarter(s.t)
    # Quarters after the current one have no spend yet, so growth can hold at most for the
    # next quarter start and is gone by the one after.
    for ahead in (1, 2):
        if s.quarterly.grew_before(current + ahead) != growing:
            return r.calendar.quarter_start(current + ahead)
    return None


def is_new_category(s: CustomerState, category: str | None) -> bool:
    """A purchase in a category never bought on an earlier occasion."""
    return bool(
        category and s.categories_before_today and category not in s.categories_before_today
    )


def new_category(s: CustomerState, r: Thresholds) -> bool:
    at = s.new_category_at
    return s.active and at is not None and s.t < at + r.new_category_window


def new_category_expires_due(s: CustomerState, r: Thresholds) -> datetime | None:
    if Reason.NEW_CATEGORY in s.upgrade and s.new_category_at is not None:
        return s.new_category_at + r.new_category_window
    return None


def upgrade_signals(s: CustomerState, r: Thresholds) -> tuple[Reason, ...]:
    """What raises upgrade_candidate now, in priority order."""
    causes = ((Reason.SPEND_GROWTH, spend_growth(s, r)), (Reason.NEW_CATEGORY, new_category(s, r)))
    return tuple(reason for reason, holds in causes if holds)


# --- tiers ---------------------------------------------------------------------------------


def tier_for_trailing_spend(s: CustomerState, r: Thresholds) -> Tier:
    """A, B or C by the spend of the trailing `window_days`."""
    return r.tiers.tier_for(s.trailing.total)


def tier_decay_due(s: CustomerState, r: Thresholds) -> datetime | None:
    """When spend leaving the trailing window would first change the tier."""
    return s.trailing.next_tier_change(s.tier, r.tiers.tier_for)


# --- patterns ------------------------------------------------------------------------------


def lifecycle_pattern(s: CustomerState) -> LifecyclePattern | None:
    """How a churned customer's lifecycle ended (by the stage it churned from), or
    long_lasting for a customer long in maintenance."""
    if s.stage is Stage.CHURN and s.churned_from is not None:
        return PATTERN_BY_CHURNED_FROM[s.churned_from]
    return LifecyclePattern.LONG_LASTING if s.long_lasting else None


def long_lasting_due(s: CustomerState, r: Thresholds) -> datetime | None:
    if s.stage is Stage.MAINTENANCE and not s.long_lasting and s.stage_since is not None:
        return s.stage_since + r.long_lasting
    return None


def _median(sorted_values: list[int]) -> float:
    middle = len(sorted_values) // 2
    if len(sorted_values) % 2:
        return float(sorted_values[middle])
    return (sorted_values[middle - 1] + sorted_values[middle]) / 2
