"""Use case: a playbook's measured impact, from notify's messages and outcome facts.

Reads the eligible first decisions of each step and the outcome facts of their customers,
converts purchase amounts to the reporting currency (the rate of each purchase's day, as
every service does: shared/money.py), and compares the arms (domain/impact.py).
"""

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from services.notify.adapters import store
from services.notify.domain.holdout import CONTROL_GROUP, Arm
from services.notify.domain.impact import (
    Comparison,
    Facts,
    Outcome,
    Purchase,
    StageChange,
    Unit,
    by_occurrence,
    compare,
    outcome,
)
from services.notify.domain.playbooks import Playbook
from services.notify.domain.uplift_stats import LEVEL, Interval
from shared.exchange_rates import RatesCache
from shared.money import NoRate, to_reporting


@dataclass(frozen=True)
class ImpactQuery:
    window: timedelta
    since: datetime  # triggers from this time on
    now: datetime


class ImpactReader:
    def __init__(
        self, engine: AsyncEngine, reporting_currency: str, costs: Mapping[str, float]
    ) -> None:
        self._engine = engine
        self._rates = RatesCache(reporting_currency)
        self._costs = dict(costs)

    async def impact(self, playbook: Playbook, query: ImpactQuery) -> dict[str, Any]:
        async with self._engine.connect() as conn:
            rows = await store.impact_units(conn, playbook.name, query.since)
            facts_rows = await store.impact_outcomes(conn, playbook.name, query.since)
            rates = await self._rates.current(conn)
        facts, unconverted = _facts(facts_rows, lambda a, c, at: to_reporting(a, c, at, rates))
        units: list[tuple[Unit, Outcome]] = []
        for r in rows:
            unit = Unit(
                customer_id=r["customer_id"],
                occurrence_id=r["occurrence_id"],
                step=r["step"],
                channel=r["channel"],
                arm=Arm.CONTROL if r["reason"] == CONTROL_GROUP else Arm.TREATMENT,
                trigger_at=r["trigger_at"],
                sent=r["status"] == "sent",
            )
            units.append(
                (unit, outcome(unit.trigger_at, query.window, facts.get(unit.customer_id, Facts())))
            )
        steps = []
        for step in playbook.steps:
            mine = [(u, o) for u, o in units if u.step == step.name]
            figures = compare(mine, query.now, query.window, self._costs)
            steps.append({"step": step.name, "channel": step.channel.value, **_out(figures)})
        whole = compare(
            by_occurrence(units), query.now, query.window, self._costs, [u for u, _ in units]
        )
        return {
            "playbook": playbook.name,
            "currency": self._rates.reporting_currency,
            "window_days": query.window.total_seconds() / 86400,
            "since": query.since,
            "generated_at": query.now,
            "confidence_level": LEVEL,
            "control_group": playbook.control_group,
            "unconverted_purchases": unconverted,
            "overall": _out(whole),
            "steps": steps,
        }


def _facts(rows: list[dict[str, Any]], convert: Any) -> tuple[dict[str, Facts], int]:
    """Facts per customer; purchases whose currency has no rate on their day are counted as
    purchases with no revenue (and reported)."""
    purchases: dict[str, list[Purchase]] = defaultdict(list)
    moves: dict[str, list[StageChange]] = defaultdict(list)
    opt_outs: dict[str, list[datetime]] = defaultdict(list)
    unconverted = 0
    for r in rows:
        customer, at = r["customer_id"], r["occurred_at"]
        if r["kind"] == "purchase":
            try:
                amount = float(convert(Decimal(r["amount"]), r["currency"], at))
            except NoRate:
                amount, unconverted = 0.0, unconverted + 1
            purchases[customer].append(Purchase(at, amount))
        elif r["kind"] == "stage" and r["to_stage"]:
            moves[customer].append(StageChange(at, r["from_stage"], r["to_stage"]))
        elif r["kind"] == "opt_out":
            opt_outs[customer].append(at)
    customers = set(purchases) | set(moves) | set(opt_outs)
    return {
        c: Facts(tuple(purchases[c]), tuple(moves[c]), tuple(opt_outs[c])) for c in customers
    }, unconverted


def _interval(found: Interval | None) -> dict[str, Any] | None:
    if found is None:
        return None
    return {
        "estimate": found.estimate,
        "low": found.low,
        "high": found.high,
        "significant": found.significant,
    }


def _out(c: Comparison) -> dict[str, Any]:
    def arm(a: Any) -> dict[str, Any]:
        return {
            "eligible": a.eligible,
            "open_windows": a.open_windows,
            "messages_sent": a.messages_sent,
            "channel_cost": a.channel_cost,
            "revenue_total": a.revenue_total,
            "revenue_per_customer": a.revenue_per_customer,
            **{f"{k}_rate": v for k, v in a.rates.items()},
        }

    return {
        "arms": {"treatment": arm(c.treatment), "control": arm(c.control)},
        "difference": {k: _interval(v) for k, v in c.differences.items()},
        "incremental_revenue": c.incremental_revenue,
        "incremental_revenue_per_message": c.incremental_revenue_per_message,
        "incremental_revenue_per_cost_unit": c.incremental_revenue_per_cost_unit,
    }
