"""The impact panel picks the playbooks with a control group and keeps their overall figures."""

from typing import Any

from services.dashboard.dashboard_impact import impact_panel, measured

BOOK: dict[str, Any] = {
    "policy": {"global_control_group": 0.0},
    "playbooks": [
        {"name": "churned", "enabled": True, "control_group": 0.1},
        {"name": "at_risk", "enabled": True, "control_group": 0.0},
        {"name": "old", "enabled": False, "control_group": 0.2},
    ],
}


def _impact(name: str) -> dict[str, Any]:
    arm = {"eligible": 10, "purchase_rate": 0.5}
    interval = {"estimate": 0.1, "low": -0.1, "high": 0.3, "significant": False}
    return {
        "playbook": name,
        "control_group": 0.1,
        "window_days": 30.0,
        "currency": "CNY",
        "overall": {
            "arms": {"treatment": arm, "control": {**arm, "eligible": 2}},
            "difference": {"purchase": interval, "revenue_per_customer": None},
            "incremental_revenue_per_message": 1.5,
            "incremental_revenue_per_cost_unit": 150.0,
        },
    }


def test_only_enabled_playbooks_holding_customers_out_are_measured() -> None:
    assert measured(BOOK) == ["churned"]
    everyone = {**BOOK, "policy": {"global_control_group": 0.05}}
    assert measured(everyone) == ["churned", "at_risk"]  # the global group holds out of all


async def test_the_panel_asks_notify_for_each_measured_playbook() -> None:
    asked: list[str] = []

    async def get_json(path: str) -> Any:
        asked.append(path)
        return BOOK if path == "/v1/playbooks" else _impact(path.split("/")[3])

    panel = await impact_panel(get_json)
    assert asked == ["/v1/playbooks", "/v1/playbooks/churned/impact"]
    [row] = panel["items"]
    assert (row["playbook"], row["treatment_eligible"], row["control_eligible"]) == (
        "churned",
        10,
        2,
    )
    assert row["purchase_uplift"]["estimate"] == 0.1
    assert row["incremental_revenue_per_cost_unit"] == 150.0 and row["currency"] == "CNY"
