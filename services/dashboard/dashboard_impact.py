"""The dashboard's "Playbook impact" panel: each measured playbook's uplift, from notify.

Notify answers GET /v1/playbooks (which playbooks hold customers out) and
GET /v1/playbooks/{name}/impact (README "Control groups and measured uplift"); this keeps the
playbook-level (`overall`) figures the panel shows. Lives apart from dashboard.py so the
panel moves with the dashboard wherever it is served.
"""

from collections.abc import Awaitable, Callable
from typing import Any

GetJson = Callable[[str], Awaitable[Any]]


def measured(book: dict[str, Any]) -> list[str]:
    """Playbooks with a control group: their own share, or the global one for all."""
    everyone = float(book.get("policy", {}).get("global_control_group") or 0) > 0
    return [
        p["name"]
        for p in book.get("playbooks", [])
        if p.get("enabled", True) and (everyone or float(p.get("control_group") or 0) > 0)
    ]


def panel_row(impact: dict[str, Any]) -> dict[str, Any]:
    """What one row of the panel shows, from one impact answer (playbook as a whole)."""
    overall = impact["overall"]
    treated, control = overall["arms"]["treatment"], overall["arms"]["control"]
    return {
        "playbook": impact["playbook"],
        "control_group": impact["control_group"],
        "treatment_eligible": treated["eligible"],
        "control_eligible": control["eligible"],
        "treatment_purchase_rate": treated["purchase_rate"],
        "control_purchase_rate": control["purchase_rate"],
        "purchase_uplift": overall["difference"]["purchase"],
        "revenue_uplift": overall["difference"]["revenue_per_customer"],
        "incremental_revenue_per_message": overall["incremental_revenue_per_message"],
        "incremental_revenue_per_cost_unit": overall["incremental_revenue_per_cost_unit"],
        "window_days": impact["window_days"],
        "currency": impact["currency"],
    }


async def impact_panel(get_json: GetJson) -> dict[str, Any]:
    book = await get_json("/v1/playbooks")
    rows = [panel_row(await get_json(f"/v1/playbooks/{name}/impact")) for name in measured(book)]
    return {"items": rows}
