"""Scoring's purchase occasions and as-of day are the business's calendar days."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from services.scoring.adapters.statistics import day_number, time_params
from services.scoring.service_layer.facts import collect
from shared.business_calendar import BusinessCalendar
from shared.events import customer_event_adapter
from tests.support.factories import purchase

SHANGHAI_ZONE = ZoneInfo("Asia/Shanghai")
SHANGHAI = BusinessCalendar.named("Asia/Shanghai")


def _events(*local: datetime):
    return [customer_event_adapter.validate_python(purchase("c1", at)) for at in local]


def test_23_00_and_07_00_next_morning_local_are_two_occasions():
    events = _events(
        datetime(2024, 3, 1, 23, tzinfo=SHANGHAI_ZONE),
        datetime(2024, 3, 2, 7, tzinfo=SHANGHAI_ZONE),
    )
    assert len(collect(events, SHANGHAI).occasions) == 2
    assert len(collect(events, BusinessCalendar()).occasions) == 1


def test_01_00_and_10_00_on_one_local_day_are_one_occasion():
    events = _events(
        datetime(2024, 3, 5, 1, tzinfo=SHANGHAI_ZONE),
        datetime(2024, 3, 5, 10, tzinfo=SHANGHAI_ZONE),
    )
    facts = collect(events, SHANGHAI)
    [(customer, day)] = facts.occasions
    assert str(day) == "2024-03-05"
    assert facts.occasions[(customer, day)].orders == 2


def test_the_as_of_day_and_its_start_are_local():
    as_of = datetime(2024, 3, 4, 17, 30, tzinfo=UTC)  # 5 March 01:30 in Shanghai
    params = time_params(as_of, 90, SHANGHAI)
    assert str(params["day"]) == "2024-03-05"
    assert params["day_start"] == datetime(2024, 3, 4, 16, tzinfo=UTC)
    assert day_number(as_of, SHANGHAI) == day_number(as_of, BusinessCalendar()) + 1
