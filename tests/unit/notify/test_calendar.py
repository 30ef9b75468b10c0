"""Birthdays and holidays in the customer's own calendar."""

from datetime import UTC, date, datetime

from services.notify.domain import CustomerProfile, load_playbooks
from services.notify.domain.calendar import calendar_triggers, is_birthday
from services.notify.settings import DEFAULT_PLAYBOOKS

BOOK = load_playbooks(DEFAULT_PLAYBOOKS)


def test_birthdays_including_the_29th_of_february() -> None:
    assert is_birthday(date(1990, 5, 17), date(2026, 5, 17))
    assert not is_birthday(date(1990, 5, 17), date(2026, 5, 18))
    assert is_birthday(date(2000, 2, 29), date(2027, 2, 28))
    assert not is_birthday(date(2000, 2, 29), date(2028, 2, 28))
    assert is_birthday(date(2000, 2, 29), date(2028, 2, 29))


def test_the_birthday_is_the_day_in_the_customers_zone() -> None:
    # 2026-05-16 20:00 UTC is already 17 May in Shanghai, still 16 May in New York.
    now = datetime(2026, 5, 16, 20, 0, tzinfo=UTC)
    shanghai = CustomerProfile("c1", birthday=date(1990, 5, 17), timezone="Asia/Shanghai")
    new_york = CustomerProfile("c2", birthday=date(1990, 5, 17), timezone="America/New_York")
    [trigger] = calendar_triggers(shanghai, BOOK, now)
    assert (trigger.date, trigger.occurrence_id) == ("birthday", "birthday:2026")
    assert calendar_triggers(new_york, BOOK, now) == []


def test_holidays_fire_once_per_day_and_name() -> None:
    now = datetime(2027, 2, 6, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai, Spring Festival 2027
    [trigger] = calendar_triggers(CustomerProfile("c1"), BOOK, now)
    assert trigger.date == "holiday:spring_festival_2027"
    assert trigger.occurrence_id == "holiday:spring_festival_2027:2027-02-06"
    assert trigger.context == {"holiday": "spring_festival_2027"}
    assert calendar_triggers(CustomerProfile("c1"), BOOK, datetime(2027, 2, 7, 3, tzinfo=UTC)) == []
