"""GET /v1/reports/overview's figures, folded from grouped counts (domain/overview.py)."""

from datetime import UTC, datetime

from services.lifecycle.domain import LifecyclePattern, Stage, Tier
from services.lifecycle.domain.overview import CustomerGroup, DailyChanges, overview

AS_OF = datetime(2026, 12, 7, tzinfo=UTC)


def test_every_stage_tier_and_pattern_is_listed_and_each_sums_to_the_customers() -> None:
    groups = [
        CustomerGroup(Stage.DEVELOPMENT, Tier.C, None, True, 3),
        CustomerGroup(Stage.DEVELOPMENT, Tier.B, None, False, 2),
        CustomerGroup(Stage.CHURN, Tier.C, LifecyclePattern.MIDWAY, False, 5),
    ]
    found = overview(groups, [], 30, AS_OF)
    assert found["customers"] == 10
    assert found["stages"] == {"acquisition": 0, "development": 5, "maintenance": 0, "churn": 5}
    assert found["tiers"] == {"A": 0, "B": 2, "C": 8}
    assert found["patterns"] == {
        "early_abort": 0, "midway": 5, "early_exit": 0, "long_lasting": 0, "none": 5
    }  # fmt: skip
    assert found["at_risk"] == {"customers": 3, "share": 0.3}


def test_no_customers_gives_zeros_and_no_share() -> None:
    found = overview([], [], 7, AS_OF)
    assert found["customers"] == 0 and set(found["stages"].values()) == {0}
    assert found["at_risk"] == {"customers": 0, "share": None}
    assert found["transitions"] == {"days": 7, "items": []}


def test_changes_are_listed_by_day_then_kind_then_target() -> None:
    later = DailyChanges("2026-12-06", "stage", Stage.CHURN, None, 4)
    flag = DailyChanges("2026-12-05", "flag", Stage.DEVELOPMENT, "at_risk", 1)
    stage = DailyChanges("2026-12-05", "stage", Stage.DEVELOPMENT, None, 2)
    items = overview([], [later, stage, flag], 30, AS_OF)["transitions"]["items"]
    assert [(i["day"], i["kind"], i["count"]) for i in items] == [
        ("2026-12-05", "flag", 1), ("2026-12-05", "stage", 2), ("2026-12-06", "stage", 4)
    ]  # fmt: skip
