"""The audiences' own view of a customer, and how each observed message changes it."""

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

SCORE_FIELDS = ("clv", "churn_risk", "p_alive", "health_score")


@dataclass(frozen=True)
class CustomerView:
    customer_id: str
    stage: str | None = None
    flags: frozenset[str] = frozenset()
    tier: str | None = None
    clv: float | None = None
    churn_risk: float | None = None
    p_alive: float | None = None
    health_score: float | None = None
    rfm_segment: str | None = None
    scored_at: datetime | None = None
    last_purchase_at: datetime | None = None
    purchase_count: int = 0
    locale: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    profile_at: datetime | None = None


class UpdateKind(StrEnum):
    STAGE = "stage"
    FLAG = "flag"
    TIER = "tier"
    SCORES = "scores"
    PURCHASE = "purchase"
    PROFILE = "profile"
    NONE = "none"  # a message that says nothing the view keeps


@dataclass(frozen=True)
class Update:
    event_id: str
    customer_id: str
    occurred_at: datetime
    kind: UpdateKind
    stage: str | None = None
    entry: bool = False  # the customer's first stage message (acquisition, from nowhere)
    flag: str | None = None
    flag_value: bool = False
    tier: str | None = None
    scores: dict[str, float | None] = field(default_factory=dict)
    rfm_segment: str | None = None
    locale: str | None = None
    attributes: dict[str, Any] | None = None


def apply(view: CustomerView, update: Update) -> CustomerView:
    """The view after the update. Each topic is read in order per customer, so a stage, flag
    or tier message applies as it comes (lifecycle publishes corrections as later messages);
    scores and profiles carry their own time and an older one changes nothing."""
    kind = update.kind
    if kind is UpdateKind.STAGE:
        if update.entry and view.stage is not None:
            # A late, earlier event republished the entry: the customer has moved on.
            return view
        return replace(view, stage=update.stage)
    if kind is UpdateKind.FLAG:
        assert update.flag is not None
        flags = view.flags | {update.flag} if update.flag_value else view.flags - {update.flag}
        return replace(view, flags=frozenset(flags))
    if kind is UpdateKind.TIER:
        return replace(view, tier=update.tier)
    if kind is UpdateKind.SCORES:
        if view.scored_at is not None and update.occurred_at < view.scored_at:
            return view
        scores = update.scores
        return replace(
            view,
            clv=scores.get("clv"),
            churn_risk=scores.get("churn_risk"),
            p_alive=scores.get("p_alive"),
            health_score=scores.get("health_score"),
            rfm_segment=update.rfm_segment,
            scored_at=update.occurred_at,
        )
    if kind is UpdateKind.PURCHASE:
        last = view.last_purchase_at
        latest = update.occurred_at if last is None or update.occurred_at > last else last
        return replace(view, last_purchase_at=latest, purchase_count=view.purchase_count + 1)
    if kind is UpdateKind.PROFILE:
        if view.profile_at is not None and update.occurred_at < view.profile_at:
            return view
        attributes = {**view.attributes, **(update.attributes or {})}
        locale = update.locale if update.locale is not None else view.locale
        return replace(view, locale=locale, attributes=attributes, profile_at=update.occurred_at)
    return view
