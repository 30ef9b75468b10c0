"""How a checkpoint (the engine's stored point to resume from) is kept: a JSON document.

A document of another format version decodes to None: that customer is then replayed in
full from its facts on its next event or due time, and stored in this format (which is how
rows written by an earlier version are re-derived; no data migration is needed).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from services.lifecycle.domain.business_rules import Thresholds
from services.lifecycle.domain.checkpoint import Checkpoint, ClockMark
from services.lifecycle.domain.customer_state import CustomerState
from services.lifecycle.domain.moments import iso, parse_iso, parse_utc
from services.lifecycle.domain.rules import LifecycleRules
from services.lifecycle.domain.spend import QuarterlySpend, TrailingSpend
from services.lifecycle.domain.stages import Reason, Stage, Tier

# 2: flag reasons as bits; 3: histories open with the entry; 4: the named CustomerState.
CHECKPOINT_FORMAT_VERSION = 4


def checkpoint_to_json(checkpoint: Checkpoint) -> dict[str, Any]:
    document: dict[str, Any] = {
        "v": CHECKPOINT_FORMAT_VERSION,
        "rules": checkpoint.rules_key,
        "points": checkpoint.points_consumed,
        "history": checkpoint.history_len,
        "replay": state_to_json(checkpoint.state),
    }
    if checkpoint.points_total is not None:
        document["total"] = checkpoint.points_total
    if checkpoint.order_keys:
        document["orders"] = sorted(checkpoint.order_keys)
    if checkpoint.ticket_ids:
        document["tickets"] = sorted(checkpoint.ticket_ids)
    if checkpoint.clock is not None:
        document["clock"] = _clock_to_json(checkpoint.clock)
    return document


def with_clock_mark(document: Mapping[str, Any], clock: ClockMark | None) -> dict[str, Any]:
    """`document` (as `checkpoint_to_json` wrote it) with its clock mark replaced by `clock`:
    when only the clock moved a checkpoint on, only the mark is encoded again."""
    moved = {key: value for key, value in document.items() if key != "clock"}
    if clock is not None:
        moved["clock"] = _clock_to_json(clock)
    return moved


def _clock_to_json(clock: ClockMark) -> dict[str, Any]:
    return {"history": clock.history_len, "replay": state_to_json(clock.state)}


def checkpoint_from_json(raw: Mapping[str, Any] | None, rules: LifecycleRules) -> Checkpoint | None:
    """None for a missing or unknown format: the caller then replays in full."""
    if not raw or raw.get("v") != CHECKPOINT_FORMAT_VERSION:
        return None
    thresholds = Thresholds.of(rules)
    clock = raw.get("clock")
    return Checkpoint(
        raw["rules"],
        raw["points"],
        raw["history"],
        state_from_json(raw["replay"], thresholds),
        raw.get("total"),
        None
        if clock is None
        else ClockMark(clock["history"], state_from_json(clock["replay"], thresholds)),
        frozenset(raw.get("orders", ())),
        frozenset(raw.get("tickets", ())),
    )


def state_to_json(s: CustomerState) -> dict[str, Any]:
    return {
        "t": iso(s.t),
        "first_seen_at": iso(s.first_seen_at),
        "stage": s.stage.value,
        "stage_since": _iso(s.stage_since),
        "churned_from": s.churned_from.value if s.churned_from else None,
        "reactivations": s.reactivations,
        "long_lasting": s.long_lasting,
        "first_purchase_at": _iso(s.first_purchase_at),
        "last_purchase_at": _iso(s.last_purchase_at),
        "occasion_days": [day.isoformat() for day in s.occasion_days],
        "gaps": s.gaps,
        "total_spend": str(s.total_spend),
        "trailing": [[iso(at), str(amount)] for at, amount in s.trailing.purchases()],
        "trailing_total": str(s.trailing.total),
        "quarterly": [[q, str(amount)] for q, amount in sorted(s.quarterly.by_quarter().items())],
        "categories_before_today": sorted(s.categories_before_today),
        "categories_today": sorted(s.categories_today),
        "new_category_at": _iso(s.new_category_at),
        "complaints": [iso(at) for at in s.complaints],
        "churn_risk": s.churn_risk,
        "at_risk": [reason.value for reason in s.at_risk],
        "upgrade": [reason.value for reason in s.upgrade],
        "tier": s.tier.value,
    }


def state_from_json(raw: Mapping[str, Any], r: Thresholds) -> CustomerState:
    # The trailing window's many moments, as `iso` wrote them (UTC, with offset).
    trailing = TrailingSpend.restore(
        r.tier_window,
        [(parse_iso(at), Decimal(amount)) for at, amount in raw["trailing"]],
        Decimal(raw["trailing_total"]),
    )
    quarterly = QuarterlySpend(r.growth_factor, r.growth_quarters, r.calendar)
    quarterly.restore({q: Decimal(amount) for q, amount in raw["quarterly"]})
    return CustomerState(
        first_seen_at=parse_utc(raw["first_seen_at"]),
        t=parse_utc(raw["t"]),
        trailing=trailing,
        quarterly=quarterly,
        stage=_STAGES[raw["stage"]],
        stage_since=_moment(raw["stage_since"]),
        churned_from=_STAGES[raw["churned_from"]] if raw["churned_from"] else None,
        reactivations=raw["reactivations"],
        long_lasting=raw["long_lasting"],
        first_purchase_at=_moment(raw["first_purchase_at"]),
        last_purchase_at=_moment(raw["last_purchase_at"]),
        occasion_days=[date.fromisoformat(day) for day in raw["occasion_days"]],
        gaps=list(raw["gaps"]),
        total_spend=Decimal(raw["total_spend"]),
        categories_before_today=set(raw["categories_before_today"]),
        categories_today=set(raw["categories_today"]),
        new_category_at=_moment(raw["new_category_at"]),
        complaints=deque(parse_utc(at) for at in raw["complaints"]),
        churn_risk=raw["churn_risk"],
        at_risk=tuple(_REASONS[reason] for reason in raw["at_risk"]),
        upgrade=tuple(_REASONS[reason] for reason in raw["upgrade"]),
        tier=_TIERS[raw["tier"]],
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)


def _moment(raw: str | None) -> datetime | None:
    return None if raw is None else parse_utc(raw)


_STAGES = {stage.value: stage for stage in Stage}
_TIERS = {tier.value: tier for tier in Tier}
_REASONS = {reason.value: reason for reason in Reason}
