"""The dashboard's lifecycle panels (stage funnel, customer base, transitions per day, the
at-risk list), read from lifecycle's API: GET /v1/reports/overview for the counts and
GET /v1/customers?flag=at_risk for the flagged customers the at-risk panel joins with their
scores."""

from dataclasses import dataclass, field
from typing import Any

import httpx

from .upstream import Unavailable, get_json

STAGES = ("acquisition", "development", "maintenance", "churn")
AT_RISK_PAGE = 1000  # the most lifecycle's customer list gives per page
AT_RISK_IDS_MAX = 50_000  # flagged customers read at most, for the CLV ranking scan


@dataclass
class LifecycleFigures:
    """What the panels need from lifecycle; `unavailable` says why there is nothing."""

    stages: dict[str, Any]
    customer_base: dict[str, Any]
    transitions: dict[str, Any]
    at_risk_total: int | None = None
    at_risk_rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    unavailable: str | None = None


def _row(state: dict[str, Any]) -> dict[str, Any]:
    return {
        "customer_id": state["customer_id"],
        "stage": state["stage"],
        "tier": state["tier"],
        "last_purchase_at": state.get("last_purchase_at"),
        "total_spend": float(state["total_spend"]),
    }


def customer_base_panel(overview: dict[str, Any]) -> dict[str, Any]:
    """Counts of customers per current tier and per lifecycle pattern (as lifecycle lists them,
    `none` for the never churned; each sums to `customers`), the at-risk count, and its share
    as a percentage of customers: 100 x at-risk / customers, None without customers."""
    customers = int(overview["customers"])
    at_risk = int(overview["at_risk"]["customers"])
    return {
        "customers": customers,
        "tiers": {str(tier): int(n) for tier, n in overview["tiers"].items()},
        "patterns": {str(pattern): int(n) for pattern, n in overview["patterns"].items()},
        "at_risk_customers": at_risk,
        "at_risk_share_percent": 100 * at_risk / customers if customers else None,
    }


async def _at_risk_rows(client: httpx.AsyncClient, total: int) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    while len(rows) < min(total, AT_RISK_IDS_MAX):
        params: dict[str, Any] = {"flag": "at_risk", "limit": AT_RISK_PAGE}
        if cursor:
            params["cursor"] = cursor
        page = await get_json(client, "/v1/customers", params)
        rows.update((s["customer_id"], _row(s)) for s in page.get("items", []))
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return rows


async def read_lifecycle(client: httpx.AsyncClient, days: int) -> LifecycleFigures:
    try:
        found = await get_json(client, "/v1/reports/overview", {"days": days})
        rows = await _at_risk_rows(client, int(found["at_risk"]["customers"]))
    except Unavailable as exc:
        detail = f"lifecycle unavailable: {exc}"
        off = {"available": False, "detail": detail}
        days_off = {**off, "days": days, "items": []}
        return LifecycleFigures(off, off, days_off, unavailable=detail)
    on = {"available": True, "detail": None}
    return LifecycleFigures(
        stages={**on, **{s: int(found["stages"].get(s, 0)) for s in STAGES}},
        customer_base={**on, **customer_base_panel(found)},
        transitions={**on, **found["transitions"]},
        at_risk_total=int(found["at_risk"]["customers"]),
        at_risk_rows=rows,
    )
