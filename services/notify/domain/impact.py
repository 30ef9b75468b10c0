"""What a playbook causes: outcomes after each trigger, per arm, and the measured uplift.

A unit is one eligible decision of a playbook step for one trigger occurrence: a treated
one (the step was planned; intent to treat, whether or not the message then went out) or a
held-out one (suppressed, reason control_group). Outcomes are counted in the window
(trigger_at, trigger_at + window]. Pure: the facts come from notify's tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .holdout import Arm
from .uplift_stats import Interval, Sample, newcombe, welch

PROPORTIONS = ("purchase", "reactivation", "stage_kept", "opt_out")


@dataclass(frozen=True)
class Purchase:
    at: datetime
    amount: float  # reporting currency


@dataclass(frozen=True)
class StageChange:
    at: datetime
    from_stage: str | None
    to_stage: str


@dataclass(frozen=True)
class Facts:
    """What notify learned about a customer from the topics it consumes."""

    purchases: Sequence[Purchase] = ()
    stage_changes: Sequence[StageChange] = ()
    opt_outs: Sequence[datetime] = ()


@dataclass(frozen=True)
class Outcome:
    purchase: bool
    revenue: float
    reactivation: bool
    stage_kept: bool
    opt_out: bool


def outcome(trigger_at: datetime, window: timedelta, facts: Facts) -> Outcome:
    """purchase: a purchase in the window; revenue: their sum (reporting currency);
    reactivation: a stage change out of churn; stage_kept: no stage change; opt_out: an
    opt-out of any channel. The window excludes the trigger's own instant (a purchase that
    triggered the playbook is not its outcome)."""
    end = trigger_at + window

    def inside(at: datetime) -> bool:
        return trigger_at < at <= end

    bought = [p for p in facts.purchases if inside(p.at)]
    moves = [s for s in facts.stage_changes if inside(s.at) and s.from_stage != s.to_stage]
    return Outcome(
        purchase=bool(bought),
        revenue=sum(p.amount for p in bought),
        reactivation=any(s.from_stage == "churn" for s in moves),
        stage_kept=not moves,
        opt_out=any(inside(at) for at in facts.opt_outs),
    )


@dataclass(frozen=True)
class Unit:
    customer_id: str
    occurrence_id: str
    step: str
    channel: str
    arm: Arm
    trigger_at: datetime
    sent: bool  # the message went out (treatment only)


@dataclass(frozen=True)
class ArmFigures:
    eligible: int
    open_windows: int  # units whose window has not ended yet (outcomes still counting)
    messages_sent: int
    channel_cost: float
    revenue_total: float
    rates: Mapping[str, float | None]  # share of eligible units, None for an empty arm
    revenue_per_customer: float | None


@dataclass(frozen=True)
class Comparison:
    """Treatment against control for one step (or the whole playbook)."""

    treatment: ArmFigures
    control: ArmFigures
    differences: Mapping[str, Interval | None]  # PROPORTIONS and revenue_per_customer
    incremental_revenue: float | None
    incremental_revenue_per_message: float | None
    incremental_revenue_per_cost_unit: float | None


def _arm(
    units: Sequence[tuple[Unit, Outcome]],
    sends: Sequence[Unit],
    now: datetime,
    window: timedelta,
    costs: Mapping[str, float],
) -> ArmFigures:
    n = len(units)
    sent = [u for u in sends if u.sent]
    revenue = sum(o.revenue for _, o in units)
    return ArmFigures(
        eligible=n,
        open_windows=sum(1 for u, _ in units if u.trigger_at + window > now),
        messages_sent=len(sent),
        channel_cost=sum(costs.get(u.channel, 0.0) for u in sent),
        revenue_total=revenue,
        rates={
            k: (sum(1 for _, o in units if getattr(o, k)) / n if n else None) for k in PROPORTIONS
        },
        revenue_per_customer=revenue / n if n else None,
    )


def compare(
    units: Iterable[tuple[Unit, Outcome]],
    now: datetime,
    window: timedelta,
    costs: Mapping[str, float],
    messages: Iterable[Unit] | None = None,
) -> Comparison:
    """Per arm figures; differences with 95 % intervals (Newcombe for rates, Welch for
    revenue); incremental revenue = (revenue per treated unit - revenue per control unit) x
    treated units, per message sent and per unit of channel cost. `messages`: the units whose
    sends are counted and costed (default: `units`; the playbook's whole counts every step)."""
    by_arm: dict[Arm, list[tuple[Unit, Outcome]]] = {Arm.TREATMENT: [], Arm.CONTROL: []}
    listed = list(units)
    for u, o in listed:
        by_arm[u.arm].append((u, o))
    sends = [u for u, _ in listed] if messages is None else list(messages)
    treated, held = by_arm[Arm.TREATMENT], by_arm[Arm.CONTROL]
    differences: dict[str, Interval | None] = {
        k: newcombe(
            sum(1 for _, o in treated if getattr(o, k)),
            len(treated),
            sum(1 for _, o in held if getattr(o, k)),
            len(held),
        )
        for k in PROPORTIONS
    }
    revenue = welch(
        Sample.of([o.revenue for _, o in treated]), Sample.of([o.revenue for _, o in held])
    )
    differences["revenue_per_customer"] = revenue
    t = _arm(treated, [u for u in sends if u.arm is Arm.TREATMENT], now, window, costs)
    c = _arm(held, [u for u in sends if u.arm is Arm.CONTROL], now, window, costs)
    incremental = revenue.estimate * t.eligible if revenue is not None else None
    return Comparison(
        treatment=t,
        control=c,
        differences=differences,
        incremental_revenue=incremental,
        incremental_revenue_per_message=_ratio(incremental, t.messages_sent),
        incremental_revenue_per_cost_unit=_ratio(incremental, t.channel_cost),
    )


def _ratio(value: float | None, by: float) -> float | None:
    return None if value is None or by <= 0 else value / by


def by_occurrence(units: Iterable[tuple[Unit, Outcome]]) -> list[tuple[Unit, Outcome]]:
    """One unit per (customer, trigger occurrence) for the playbook as a whole: the arm is
    the customer's, the same for every step (the hash names no step)."""
    first: dict[tuple[str, str], tuple[Unit, Outcome]] = {}
    for u, o in units:
        first.setdefault((u.customer_id, u.occurrence_id), (u, o))
    return list(first.values())
