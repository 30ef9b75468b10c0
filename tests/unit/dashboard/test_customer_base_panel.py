"""The customer base panel: customers per tier and per lifecycle pattern, the at-risk count and
its share (a percentage of customers, at-risk / customers, n/a without customers), taken from
lifecycle's GET /v1/reports/overview answer."""

from typing import Any

import httpx
import pytest

from services.dashboard.lifecycle_panels import customer_base_panel, read_lifecycle

# What lifecycle answers for 8 known customers: tiers A, B, B, C, C, C, C, C; two churned
# (one early_abort, one midway), one long_lasting, five with no pattern; two flagged at risk.
OVERVIEW: dict[str, Any] = {
    "as_of": "2026-12-07T18:00:00+00:00",
    "customers": 8,
    "stages": {"acquisition": 3, "development": 2, "maintenance": 1, "churn": 2},
    "tiers": {"A": 1, "B": 2, "C": 5},
    "patterns": {"early_abort": 1, "midway": 1, "early_exit": 0, "long_lasting": 1, "none": 5},
    "at_risk": {"customers": 2, "share": 0.25},
    "transitions": {"days": 30, "items": []},
}
EMPTY: dict[str, Any] = {
    **OVERVIEW,
    "customers": 0,
    "stages": dict.fromkeys(OVERVIEW["stages"], 0),
    "tiers": dict.fromkeys(OVERVIEW["tiers"], 0),
    "patterns": dict.fromkeys(OVERVIEW["patterns"], 0),
    "at_risk": {"customers": 0, "share": None},
}


def test_the_panel_gives_the_counts_per_tier_and_pattern_and_the_at_risk_share() -> None:
    panel = customer_base_panel(OVERVIEW)
    assert panel["customers"] == 8
    assert panel["tiers"] == {"A": 1, "B": 2, "C": 5}
    assert panel["patterns"] == {
        "early_abort": 1,
        "midway": 1,
        "early_exit": 0,
        "long_lasting": 1,
        "none": 5,
    }
    assert panel["at_risk_customers"] == 2
    assert panel["at_risk_share_percent"] == pytest.approx(25.0)  # 100 x 2 / 8


def test_the_share_is_null_without_customers() -> None:
    panel = customer_base_panel(EMPTY)
    assert panel["customers"] == 0
    assert panel["at_risk_customers"] == 0
    assert panel["at_risk_share_percent"] is None  # the page shows "n/a"


def _lifecycle(overview: dict[str, Any]) -> httpx.AsyncClient:
    """Lifecycle's answers from a stub transport: no network, no service."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/reports/overview":
            return httpx.Response(200, json=overview)
        if request.url.path == "/v1/customers":
            return httpx.Response(200, json={"items": [], "next_cursor": None})
        return httpx.Response(404)

    return httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://lifecycle")


async def test_read_lifecycle_carries_the_customer_base_section() -> None:
    async with _lifecycle(OVERVIEW) as client:
        figures = await read_lifecycle(client, 30)
    base = figures.customer_base
    assert base["available"] is True and base["detail"] is None
    assert base["tiers"] == OVERVIEW["tiers"]
    assert base["patterns"] == OVERVIEW["patterns"]
    assert base["at_risk_share_percent"] == pytest.approx(25.0)


async def test_without_lifecycle_the_customer_base_section_says_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    transport = httpx.MockTransport(refuse)
    async with httpx.AsyncClient(transport=transport, base_url="http://lifecycle") as client:
        figures = await read_lifecycle(client, 30)
    base = figures.customer_base
    assert base["available"] is False
    assert base["detail"].startswith("lifecycle unavailable")
