"""The vocabulary of the lifecycle: stages, flags, tiers, patterns and reasons."""

from enum import StrEnum


class Stage(StrEnum):
    ACQUISITION = "acquisition"
    DEVELOPMENT = "development"
    MAINTENANCE = "maintenance"
    CHURN = "churn"


ACTIVE_STAGES = frozenset({Stage.DEVELOPMENT, Stage.MAINTENANCE})


class Flag(StrEnum):
    AT_RISK = "at_risk"
    UPGRADE_CANDIDATE = "upgrade_candidate"


class Tier(StrEnum):
    A = "A"
    B = "B"
    C = "C"

    @property
    def rank(self) -> int:
        return {"A": 3, "B": 2, "C": 1}[self.value]


class LifecyclePattern(StrEnum):
    EARLY_ABORT = "early_abort"
    MIDWAY = "midway"
    EARLY_EXIT = "early_exit"
    LONG_LASTING = "long_lasting"


PATTERN_BY_CHURNED_FROM = {
    Stage.ACQUISITION: LifecyclePattern.EARLY_ABORT,
    Stage.DEVELOPMENT: LifecyclePattern.MIDWAY,
    Stage.MAINTENANCE: LifecyclePattern.EARLY_EXIT,
}


class Reason(StrEnum):
    # stage changes (the entry into acquisition: first_contact, or first_purchase)
    FIRST_CONTACT = "first_contact"
    FIRST_PURCHASE = "first_purchase"
    REPEAT_PURCHASES = "repeat_purchases"
    INACTIVITY = "inactivity"
    NO_PURCHASE_AFTER_FIRST_CONTACT = "no_purchase_after_first_contact"
    REACTIVATED = "reactivated"
    # at_risk set / cleared
    INACTIVE_BEYOND_USUAL_GAP = "inactive_beyond_usual_gap"
    COMPLAINTS = "complaints"
    CHURN_RISK_SCORE = "churn_risk_score"
    ACTIVITY_RESUMED = "activity_resumed"
    COMPLAINTS_SUBSIDED = "complaints_subsided"
    CHURN_RISK_LOWERED = "churn_risk_lowered"
    # upgrade_candidate set / cleared
    SPEND_GROWTH = "spend_growth"
    NEW_CATEGORY = "new_category"
    UPGRADE_SIGNAL_EXPIRED = "upgrade_signal_expired"
    # any flag cleared because the customer churned
    CHURNED = "churned"
    # tier changes
    TRAILING_SPEND_INCREASED = "trailing_spend_increased"
    TRAILING_SPEND_DECREASED = "trailing_spend_decreased"
    # a previously published transition no longer holds
    LATE_EVENT_CORRECTION = "late_event_correction"
    # ... because an order it counted was refunded, or updated to another amount
    ORDER_REFUNDED = "order_refunded"
    ORDER_UPDATED = "order_updated"
