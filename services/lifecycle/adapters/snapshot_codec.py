"""How a checkpoint (the engine's stored point to resume from) is kept: a JSON document.

Every in-order event decodes one and encodes one, so a state is a flat positional list
(format 5): moments as integer microseconds since the epoch, enums by position, amounts as
exact decimal text. Format 4 (a keyed object per state) is still read. A document of any
other format version decodes to None: that customer is then replayed in full from its facts
on its next event or due time, and stored in this format (which is how rows written by an
earlier version are re-derived; no data migration is needed).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from services.lifecycle.domain.business_rules import Thresholds
from services.lifecycle.domain.checkpoint import Checkpoint, ClockMark
from services.lifecycle.domain.customer_state import CustomerState
from services.lifecycle.domain.moments import MEMO_SIZE, iso, parse_iso, parse_utc
from services.lifecycle.domain.rules import LifecycleRules
from services.lifecycle.domain.spend import QuarterlySpend, TrailingSpend
from services.lifecycle.domain.stages import Reason, Stage, Tier

# 2: flag reasons as bits; 3: histories open with the entry; 4: the named CustomerState;
# 5: each state a positional list (`state_to_list`).
CHECKPOINT_FORMAT_VERSION = 5
_READABLE_VERSIONS = (4, 5)


def checkpoint_to_json(checkpoint: Checkpoint) -> dict[str, Any]:
    document: dict[str, Any] = {
        "v": CHECKPOINT_FORMAT_VERSION,
        "rules": checkpoint.rules_key,
        "points": checkpoint.points_consumed,
        "history": checkpoint.history_len,
        "replay": state_to_list(checkpoint.state),
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


def with_clock_mark(document: Mapping[str, Any], clock: ClockMark | None) -> dict[str, Any] | None:
    """`document` (as `checkpoint_to_json` wrote it) with its clock mark replaced by `clock`:
    when only the clock moved a checkpoint on, only the mark is encoded again. None for a
    document of an older format (its states are encoded otherwise): encode it whole."""
    if document.get("v") != CHECKPOINT_FORMAT_VERSION:
        return None
    moved = {key: value for key, value in document.items() if key != "clock"}
    if clock is not None:
        moved["clock"] = _clock_to_json(clock)
    return moved


def _clock_to_json(clock: ClockMark) -> dict[str, Any]:
    return {"history": clock.history_len, "replay": state_to_list(clock.state)}


def checkpoint_from_json(raw: Mapping[str, Any] | None, rules: LifecycleRules) -> Checkpoint | None:
    """None for a missing or unknown format: the caller then replays in full."""
    version = raw.get("v") if raw else None
    if not raw or version not in _READABLE_VERSIONS:
        return None
    thresholds = Thresholds.of(rules)
    state_of = state_from_list if version == CHECKPOINT_FORMAT_VERSION else state_from_json
    clock = raw.get("clock")
    return Checkpoint(
        raw["rules"],
        raw["points"],
        raw["history"],
        state_of(raw["replay"], thresholds),
        raw.get("total"),
        None
        if clock is None
        else ClockMark(clock["history"], state_of(clock["replay"], thresholds)),
        frozenset(raw.get("orders", ())),
        frozenset(raw.get("tickets", ())),
    )


def state_to_list(s: CustomerState) -> list[Any]:
    """Format 5: the fields in this order (`state_from_list` reads them back)."""
    trailing = s.trailing.purchases()
    return [
        _micros(s.t),
        _micros(s.first_seen_at),
        _STAGE_INDEX[s.stage],
        None if s.stage_since is None else _micros(s.stage_since),
        None if s.churned_from is None else _STAGE_INDEX[s.churned_from],
        s.reactivations,
        s.long_lasting,
        None if s.first_purchase_at is None else _micros(s.first_purchase_at),
        None if s.last_purchase_at is None else _micros(s.last_purchase_at),
        [day.toordinal() for day in s.occasion_days],
        s.gaps,
        str(s.total_spend),
        [_micros(at) for at, _ in trailing],
        [str(amount) for _, amount in trailing],
        str(s.trailing.total),
        [[q, str(amount)] for q, amount in sorted(s.quarterly.by_quarter().items())],
        sorted(s.categories_before_today),
        sorted(s.categories_today),
        None if s.new_category_at is None else _micros(s.new_category_at),
        [_micros(at) for at in s.complaints],
        s.churn_risk,
        [_REASON_INDEX[reason] for reason in s.at_risk],
        [_REASON_INDEX[reason] for reason in s.upgrade],
        _TIER_INDEX[s.tier],
    ]


def state_from_list(raw: list[Any], r: Thresholds) -> CustomerState:
    (
        t, first_seen_at, stage, stage_since, churned_from, reactivations, long_lasting,
        first_purchase_at, last_purchase_at, occasion_days, gaps, total_spend, trailing_at,
        trailing_amounts, trailing_total, quarterly_spend, categories_before_today,
        categories_today, new_category_at, complaints, churn_risk, at_risk, upgrade, tier,
    ) = raw  # fmt: skip
    trailing = TrailingSpend.restore(
        r.tier_window,
        list(zip(map(_moment_of, trailing_at), map(Decimal, trailing_amounts), strict=True)),
        Decimal(trailing_total),
    )
    quarterly = QuarterlySpend(r.growth_factor, r.growth_quarters, r.calendar)
    quarterly.restore({q: Decimal(amount) for q, amount in quarterly_spend})
    return CustomerState(
        first_seen_at=_moment_of(first_seen_at),
        t=_moment_of(t),
        trailing=trailing,
        quarterly=quarterly,
        stage=_STAGE_LIST[stage],
        stage_since=None if stage_since is None else _moment_of(stage_since),
        churned_from=None if churned_from is None else _STAGE_LIST[churned_from],
        reactivations=reactivations,
        long_lasting=long_lasting,
        first_purchase_at=None if first_purchase_at is None else _moment_of(first_purchase_at),
        last_purchase_at=None if last_purchase_at is None else _moment_of(last_purchase_at),
        occasion_days=list(map(_day_of, occasion_days)),
        gaps=gaps,
        total_spend=Decimal(total_spend),
        categories_before_today=set(categories_before_today),
        categories_today=set(categories_today),
        new_category_at=None if new_category_at is None else _moment_of(new_category_at),
        complaints=deque(map(_moment_of, complaints)),
        churn_risk=churn_risk,
        at_risk=tuple(_REASON_LIST[reason] for reason in at_risk),
        upgrade=tuple(_REASON_LIST[reason] for reason in upgrade),
        tier=_TIER_LIST[tier],
    )


# Moments and days as integers, each converted once while it stays in use (the trailing
# window's purchases are decoded and encoded again with every event of their customer).
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@lru_cache(maxsize=MEMO_SIZE)
def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


@lru_cache(maxsize=MEMO_SIZE)
def _moment_of(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


@lru_cache(maxsize=MEMO_SIZE)
def _day_of(ordinal: int) -> date:
    return date.fromordinal(ordinal)


def state_to_json(s: CustomerState) -> dict[str, Any]:
    """Format 4 (still read by `state_from_json`; tests write it to prove that)."""
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
# Format 5 numbers enum members by their position here: append new members, never reorder.
_STAGE_LIST = tuple(Stage)
_TIER_LIST = tuple(Tier)
_REASON_LIST = tuple(Reason)
_STAGE_INDEX = {stage: n for n, stage in enumerate(_STAGE_LIST)}
_TIER_INDEX = {tier: n for n, tier in enumerate(_TIER_LIST)}
_REASON_INDEX = {reason: n for n, reason in enumerate(_REASON_LIST)}
