"""Scoring's as-of day is the business's calendar day (occasions: tests/integration/test_scoring_business_days.py)."""

from datetime import UTC, datetime

from services.scoring.adapters.statistics import day_number, time_params
from shared.business_calendar import BusinessCalendar

SHANGHAI = BusinessCalendar.named("Asia/Shanghai")


def test_the_as_of_day_and_its_start_are_local():
    as_of = datetime(2024, 3, 4, 17, 30, tzinfo=UTC)  # 5 March 01:30 in Shanghai
    params = time_params(as_of, 90, SHANGHAI)
    assert str(params["day"]) == "2024-03-05"
    assert params["day_start"] == datetime(2024, 3, 4, 16, tzinfo=UTC)
    assert day_number(as_of, SHANGHAI) == day_number(as_of, BusinessCalendar()) + 1
