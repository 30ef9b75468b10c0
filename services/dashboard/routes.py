"""Operator dashboard: the page at GET /dashboard and the JSON it reads, GET /v1/dashboard/summary.

Its own service (services/dashboard/app.py, settings in settings.py); lifecycle answers its old
paths with a redirect here. The summary is put together on the server from the lifecycle,
scoring and notify APIs, called with the caller's own bearer key (upstream.py: a key sees on
the page exactly what it may read through the APIs, and the browser talks to one origin only:
no CORS). A service that is down, too old to have an endpoint, or refuses the key makes its
panels say "unavailable" instead of failing the page.
"""

import asyncio
import math
from collections import Counter
from datetime import UTC, datetime
from functools import lru_cache, partial
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from shared.auth import Scope, require
from shared.logging import get_logger

from .dashboard_impact import impact_panel
from .lifecycle_panels import LifecycleFigures, read_lifecycle
from .settings import DashboardSettings, get_dashboard_settings
from .upstream import Unavailable, client_for, get_json, section

log = get_logger(__name__)

_PAGE = Path(__file__).with_name("dashboard_page.html").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _plotly_js() -> bytes:
    # Loaded on first request (shipped inside the plotly wheel; no CDN): 9 MB of RSS that a
    # replica whose page is never opened should not carry.
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode("utf-8")


AT_RISK_SHOWN = 50
AT_RISK_PER_CUSTOMER_MAX = 300  # up to this many at-risk customers: one scores call each
CLV_PAGE, CLV_PAGES_MAX = 1000, 20  # CLV distribution from at most 20,000 customers
MESSAGE_PAGE, MESSAGE_PAGES_MAX = 1000, 10
# retrying: scheduled again after a failed attempt (a provider down shows here, not in failed).
MESSAGE_STATUSES = ("sent", "retrying", "suppressed", "failed")
CLV_BINS = 20
FORECAST_HORIZONS = {"day": range(7, 92, 7), "week": range(1, 14), "month": range(1, 13)}


router = APIRouter(tags=["dashboard"])
CustomersReader = Annotated[frozenset[str], Depends(require(Scope.CUSTOMERS_READ))]


# ---------------------------------------------------------------- scoring


async def _clv_ranking(client: httpx.AsyncClient) -> tuple[list[dict[str, Any]], bool]:
    """Customers with a CLV, highest first (at most CLV_PAGES_MAX pages); and whether cut."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(CLV_PAGES_MAX):
        params: dict[str, Any] = {"by": "clv", "limit": CLV_PAGE}
        if cursor:
            params["cursor"] = cursor
        page = await get_json(client, "/v1/customers/top", params)
        items.extend(page.get("items", []))
        cursor = page.get("next_cursor")
        if not cursor:
            return items, False
    return items, True


def _histogram(values: list[float]) -> dict[str, Any]:
    """Bins up to the 99th percentile (what is above is counted in the last bin); geometric
    bins when the values are positive and spread over more than two orders of magnitude."""
    import numpy as np  # only here: 11 MB of RSS a replica asked only for the page does not need

    if not values:
        return {"n": 0, "bins": [], "overflow": 0, "scale": "linear"}
    data = np.asarray(values, dtype=float)
    low, high = float(data.min()), float(np.percentile(data, 99))
    if high <= low:
        high = low + 1.0
    floor = max(low, 1.0)  # on log bins, values below 1 are counted in the first bin
    if low >= 0 and high / floor > 100:
        scale, edges = "log", np.geomspace(floor, high, CLV_BINS + 1)
        low = floor
    else:
        scale, edges = "linear", np.linspace(low, high, CLV_BINS + 1)
    counts, _ = np.histogram(np.clip(data, low, high), bins=edges)
    return {
        "n": len(values),
        "scale": scale,
        "min": float(data.min()),
        "median": float(np.median(data)),
        "mean": float(data.mean()),
        "max": float(data.max()),
        "p99": high,
        "overflow": int((data > high).sum()),
        "bins": [
            {"lo": float(edges[i]), "hi": float(edges[i + 1]), "count": int(counts[i])}
            for i in range(len(counts))
        ],
    }


_SCORE_FIELDS = ("clv", "churn_risk", "p_alive", "expected_purchases", "health_score")


async def _at_risk_ranked(
    client: httpx.AsyncClient,
    rows: dict[str, dict[str, Any]],
    total: int,
    ranking: list[dict[str, Any]],
    ranking_cut: bool,
    concurrency: int,
) -> dict[str, Any]:
    """At-risk customers joined with their scores, ranked by CLV (unknown CLV last)."""
    joined: list[dict[str, Any]] = []
    if total <= AT_RISK_PER_CUSTOMER_MAX:
        method = "per_customer"
        gate = asyncio.Semaphore(concurrency)

        async def scores_of(customer_id: str) -> dict[str, Any] | None:
            async with gate:
                found: dict[str, Any] | None = await get_json(
                    client, f"/v1/customers/{customer_id}/scores", absent_slug="customer-not-found"
                )
                return found

        found = await asyncio.gather(*(scores_of(c) for c in rows))
        for customer_id, scores in zip(rows, found, strict=True):
            extra = {k: (scores or {}).get(k) for k in _SCORE_FIELDS}
            joined.append({**rows[customer_id], **extra})
    else:
        # Too many for one call each: walk the CLV ranking (already fetched for the histogram).
        method = "clv_ranking_scan"
        for item in ranking:
            row = rows.get(item["customer_id"])
            if row is not None:
                joined.append({**row, **{k: item.get(k) for k in _SCORE_FIELDS}})
                if len(joined) >= AT_RISK_SHOWN:
                    break
    joined.sort(
        key=lambda r: (r["clv"] is None, -(r["clv"] or 0.0), -r["total_spend"], r["customer_id"])
    )
    return {
        "total": total,
        "method": method,
        "ranking_cut": ranking_cut if method == "clv_ranking_scan" else False,
        "items": joined[:AT_RISK_SHOWN],
    }


async def _model(client: httpx.AsyncClient) -> dict[str, Any]:
    current = await get_json(client, "/v1/models/current", absent_slug="no-model")
    if current is None:
        return {"current": None, "forecast": [], "predicted_vs_actual": None}
    unit = str(current.get("time_unit", "week"))
    horizons = list(FORECAST_HORIZONS.get(unit, FORECAST_HORIZONS["week"]))
    answers, tracking = await asyncio.gather(
        asyncio.gather(
            *(
                get_json(client, "/v1/forecast", {"horizon": h}, absent_slug="no-model")
                for h in horizons
            )
        ),
        _tracking(client),
    )
    forecast = [
        {"horizon": h, "expected_repeat_purchases": a["expected_repeat_purchases"]}
        for h, a in zip(horizons, answers, strict=True)
        if a is not None
    ]
    return {
        "current": current,
        "time_unit": unit,
        "forecast": forecast,
        "predicted_vs_actual": tracking,
    }


async def _tracking(client: httpx.AsyncClient) -> dict[str, Any] | None:
    """Actual vs expected repeat purchases per period up to the model's as_of; a scoring
    service too old for the endpoint only loses this chart, not the model panel."""
    try:
        found: dict[str, Any] | None = await get_json(
            client, "/v1/models/current/tracking", absent_slug="no-model"
        )
    except Unavailable as exc:
        log.warning("dashboard_section_unavailable", section="tracking", detail=str(exc))
        return {"available": False, "detail": f"tracking unavailable: {exc}"}
    return None if found is None else {"available": True, "detail": None, **found}


async def _scoring_sections(
    request: Request, lifecycle: LifecycleFigures, settings: DashboardSettings
) -> dict[str, Any]:
    async with client_for(settings.scoring_url, request, settings) as client:
        clv_state: dict[str, Any] = {}

        async def clv() -> dict[str, Any]:
            ranking, cut = await _clv_ranking(client)
            clv_state["ranking"], clv_state["cut"] = ranking, cut
            values = [float(i["clv"]) for i in ranking if i.get("clv") is not None]
            return {"truncated": cut, **_histogram(values)}

        async def at_risk() -> dict[str, Any]:
            total = lifecycle.at_risk_total or 0
            if "ranking" not in clv_state and total > AT_RISK_PER_CUSTOMER_MAX:
                raise Unavailable("the CLV ranking could not be read")
            return await _at_risk_ranked(
                client,
                lifecycle.at_risk_rows,
                total,
                clv_state.get("ranking", []),
                clv_state.get("cut", False),
                settings.upstream_concurrency,
            )

        clv_out, model_out = await asyncio.gather(
            section("scoring", clv), section("scoring", lambda: _model(client))
        )
        if lifecycle.unavailable:  # who is flagged is lifecycle's to say
            at_risk_out = {"available": False, "detail": lifecycle.unavailable}
            at_risk_out |= {"total": None, "items": []}
        else:
            at_risk_out = await section("scoring", at_risk)
    if not at_risk_out["available"] and not lifecycle.unavailable:
        # Still list the flagged customers, unranked, so the panel is useful without scoring.
        rows = sorted(
            lifecycle.at_risk_rows.values(), key=lambda r: (-r["total_spend"], r["customer_id"])
        )
        at_risk_out |= {"total": lifecycle.at_risk_total, "items": rows[:AT_RISK_SHOWN]}
    return {"clv": clv_out, "model": model_out, "at_risk": at_risk_out}


# ---------------------------------------------------------------- notify


async def _messages(request: Request, settings: DashboardSettings) -> dict[str, Any]:
    async with client_for(settings.notify_url, request, settings) as client:

        async def count(status: str) -> tuple[int, Counter[str], bool]:
            reasons: Counter[str] = Counter()
            n, cursor = 0, None
            for _ in range(MESSAGE_PAGES_MAX):
                params: dict[str, Any] = {"status": status, "limit": MESSAGE_PAGE}
                if cursor:
                    params["cursor"] = cursor
                page = await get_json(client, "/v1/messages", params)
                for item in page.get("items", []):
                    n += 1
                    reasons[str(item.get("reason") or "unspecified")] += 1
                cursor = page.get("next_cursor")
                if not cursor:
                    return n, reasons, False
            return n, reasons, True

        async def build() -> dict[str, Any]:
            results = await asyncio.gather(*(count(s) for s in MESSAGE_STATUSES))
            out: dict[str, Any] = {"truncated": any(r[2] for r in results)}
            cut = [s for s, r in zip(MESSAGE_STATUSES, results, strict=True) if r[2]]
            out["truncated_statuses"] = cut
            for status, (n, reasons, _) in zip(MESSAGE_STATUSES, results, strict=True):
                out[status] = n
                out[f"{status}_by_reason"] = dict(reasons.most_common())
            return out

        return await section("notify", build)


async def _impact(request: Request, settings: DashboardSettings) -> dict[str, Any]:
    async with client_for(settings.notify_url, request, settings) as client:
        return await section("notify", lambda: impact_panel(partial(get_json, client)))


# ---------------------------------------------------------------- routes


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: give null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


class DashboardSummary(BaseModel):
    """The dashboard's sections; a scoring or notify section that could not be read has
    `available: false` and a `detail`."""

    generated_at: str
    stages: dict[str, Any] = Field(description="customers per stage (lifecycle)")
    customer_base: dict[str, Any] = Field(
        description="counts of customers (lifecycle): `customers`, `tiers` (per current tier), "
        "`patterns` (per lifecycle pattern, `none` for the never churned), `at_risk_customers`, "
        "and `at_risk_share_percent` = 100 x at_risk_customers / customers, a percentage of "
        "customers, null when there are no customers"
    )
    transitions: dict[str, Any] = Field(
        description="changes per UTC day, kind and target over the last `days` (lifecycle)"
    )
    clv: dict[str, Any] = Field(description="CLV histogram (scoring)")
    model: dict[str, Any] = Field(description="current model, forecast, predicted vs actual")
    at_risk: dict[str, Any] = Field(description="at-risk customers ranked by CLV")
    messages: dict[str, Any] = Field(description="message outcomes (notify)")
    impact: dict[str, Any] = Field(description="playbooks' measured uplift (notify)")


@router.get(
    "/v1/dashboard/summary",
    summary="Everything the dashboard shows, in one answer",
    response_model=None,
    responses={200: {"model": DashboardSummary}},
)
async def dashboard_summary(
    request: Request,
    _: CustomersReader,
    days: Annotated[int, Query(ge=1, le=3660, description="transitions per day, last N days")] = 30,
) -> dict[str, Any]:
    """Stage counts, customers per tier and per lifecycle pattern with the at-risk count and
    share (`customer_base`), transitions per day, at-risk customers ranked by CLV, the CLV
    distribution, the current model with its forecast and its predicted vs actual repeat
    purchases per period (`model.predicted_vs_actual`), and message outcomes. Lifecycle
    (GET /v1/reports/overview, GET /v1/customers?flag=at_risk), scoring and notify are read
    with the caller's key (scopes customers:read, scores:read and notify:read); a section
    whose service cannot answer has `available: false` and a `detail`."""
    settings = get_dashboard_settings()

    async def lifecycle_then_scoring() -> tuple[LifecycleFigures, dict[str, Any]]:
        async with client_for(settings.lifecycle_url, request, settings) as client:
            lifecycle = await read_lifecycle(client, days)
        return lifecycle, await _scoring_sections(request, lifecycle, settings)

    (lifecycle, scoring), messages, impact = await asyncio.gather(
        lifecycle_then_scoring(), _messages(request, settings), _impact(request, settings)
    )
    return _finite(
        {
            "generated_at": datetime.now(UTC).isoformat(),
            "currency": request.app.state.settings.reporting_currency,  # of spend and CLV
            "stages": lifecycle.stages,
            "customer_base": lifecycle.customer_base,
            "transitions": lifecycle.transitions,
            **scoring,
            "messages": messages,
            "impact": impact,
        }
    )


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def dashboard_page() -> HTMLResponse:
    return HTMLResponse(_PAGE, headers={"Cache-Control": "no-cache"})


@router.get("/dashboard/plotly.min.js", include_in_schema=False)
async def plotly_js() -> Response:
    return Response(
        _plotly_js(),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=86400"},
    )
