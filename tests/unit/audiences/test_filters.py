"""The segment filter language: what parses, what is refused (naming the field), what it means
in SQL, and which filters move with the clock."""

from datetime import UTC, datetime

import pytest
from sqlalchemy.dialects import postgresql

from services.audiences.adapters.sql_filters import condition
from services.audiences.domain.filters import (
    All,
    AnyOf,
    Comparison,
    FilterError,
    Not,
    is_time_relative,
    parse_filter,
    to_json,
    uses_percentile,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _issues(raw: object) -> dict[str, str]:
    with pytest.raises(FilterError) as caught:
        parse_filter(raw)
    return {i.field: i.message for i in caught.value.issues}


def _sql(raw: object) -> str:
    compiled = condition(parse_filter(raw), NOW).compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )
    return str(compiled)


def test_a_nested_filter_parses_into_its_tree_and_back() -> None:
    raw = {
        "all": [
            {"field": "stage", "in": ["development", "maintenance"]},
            {"any": [{"field": "flags", "has": "at_risk"}, {"field": "churn_risk", "gte": 0.7}]},
            {"not": {"field": "tier", "eq": "C"}},
            {"field": "clv_percentile", "between": [80, 100]},
            {"field": "last_purchase_at", "within_days": 30},
            {"field": "attributes.plan", "eq": "gold"},
        ]
    }
    parsed = parse_filter(raw)
    assert isinstance(parsed, All)
    assert parsed.nodes[0] == Comparison("stage", "in", ("development", "maintenance"))
    assert isinstance(parsed.nodes[1], AnyOf)
    assert parsed.nodes[2] == Not(Comparison("tier", "eq", "C"))
    assert parsed.nodes[3] == Comparison("clv_percentile", "between", (80.0, 100.0))
    assert parsed.nodes[5].attribute == "plan"  # type: ignore[union-attr]
    assert parse_filter(to_json(parsed)) == parsed
    assert is_time_relative(parsed) and uses_percentile(parsed)


def test_every_mistake_is_named_by_its_path() -> None:
    issues = _issues(
        {
            "all": [
                {"field": "stage", "eq": "churned"},
                {"field": "clv", "gte": "a lot"},
                {"field": "wealth", "gte": 1},
                {"field": "locale", "within_days": 3},
                {"field": "last_purchase_at", "within_days": -1},
                {"field": "churn_risk", "between": [0.9, 0.1]},
                {"field": "tier"},
            ]
        }
    )
    assert "one of acquisition" in issues["filter.all.0.eq"]
    assert issues["filter.all.1.gte"] == "must be a number"
    assert "unknown field 'wealth'" in issues["filter.all.2.field"]
    assert "not allowed for locale" in issues["filter.all.3.within_days"]
    assert "number of days" in issues["filter.all.4.within_days"]
    assert "low must not exceed high" in issues["filter.all.5.between"]
    assert "exactly one operator" in issues["filter.all.6"]


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ([], "filter"),
        ({"all": []}, "filter.all"),
        ({"all": [{"field": "stage", "eq": "churn"}], "any": []}, "filter"),
        ({"not": "stage"}, "filter.not"),
        ({"field": "flags", "has": "vip"}, "filter.has"),
        ({"field": "last_purchase_at", "gte": "yesterday"}, "filter.gte"),
        ({"field": "last_purchase_at", "gte": "2026-01-01T00:00:00"}, "filter.gte"),
        ({"field": "attributes.bad name", "eq": 1}, "filter.field"),
        ({"field": "attributes.plan", "eq": {"nested": 1}}, "filter.eq"),
        ({"field": "stage", "in": []}, "filter.in"),
        ({"field": "clv", "gte": True}, "filter.gte"),
    ],
)
def test_malformed_filters_are_refused(raw: object, path: str) -> None:
    assert path in _issues(raw)


def test_depth_and_size_are_bounded() -> None:
    deep: dict[str, object] = {"field": "stage", "eq": "churn"}
    for _ in range(12):
        deep = {"not": deep}
    assert any("nested deeper" in m for m in _issues(deep).values())
    wide = {"any": [{"field": "clv", "gte": i} for i in range(100)]}
    assert "at most 64 comparisons" in _issues(wide)["filter"]


def test_only_purchase_windows_move_with_the_clock() -> None:
    assert not is_time_relative(
        parse_filter({"field": "last_purchase_at", "gte": "2026-01-01T00:00:00Z"})
    )
    assert is_time_relative(parse_filter({"field": "last_purchase_at", "older_than_days": 90}))
    assert not uses_percentile(parse_filter({"field": "clv", "gte": 100}))


def test_a_missing_value_matches_no_comparison_so_not_matches_it() -> None:
    sql = _sql({"not": {"field": "churn_risk", "gte": 0.5}})
    assert sql == "NOT coalesce(audience_customers.churn_risk >= 0.5, false)"


def test_windows_are_measured_back_from_now() -> None:
    sql = _sql({"field": "last_purchase_at", "within_days": 30})
    assert "audience_customers.last_purchase_at >= '2026-11-07 12:00:00+00:00'" in sql


def test_flags_and_attributes_compile_to_safe_sql() -> None:
    assert "audience_customers.flags @> ARRAY['at_risk']" in _sql(
        {"field": "flags", "has": "at_risk"}
    )
    numeric = _sql({"field": "attributes.seats", "gte": 10})
    # the cast is guarded: a string attribute compares false instead of failing the query
    assert "CASE WHEN (jsonb_typeof(audience_customers.attributes['seats']) = 'number')" in numeric
    prefix = _sql({"field": "locale", "prefix": "zh_%"})
    # the value's _ and % are escaped (literal); %% is the driver's paramstyle for %
    assert "LIKE 'zh/_/%%' || '%%' ESCAPE '/'" in prefix
