"""Amounts are converted to the reporting currency at the rate in force on the event's day."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from shared.money import ExchangeRate, ExchangeRates, NoRate, to_reporting

RATES = ExchangeRates.of(
    "CNY",
    [
        ExchangeRate("USD", date(2026, 1, 1), Decimal("7.1")),
        ExchangeRate("USD", date(2026, 3, 1), Decimal("7.2")),
        ExchangeRate("JPY", date(2026, 1, 1), Decimal("0.048")),
    ],
)


def at(day: int, month: int = 3, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def test_100_usd_100_jpy_and_100_cny_are_not_300_but_their_sum_in_cny() -> None:
    amounts = [("100", "USD"), ("100", "JPY"), ("100", "CNY")]
    total = sum(to_reporting(Decimal(a), c, at(2), RATES) for a, c in amounts)
    assert total == Decimal("720") + Decimal("4.8") + Decimal("100")


def test_the_most_recent_rate_on_or_before_the_event_day_applies() -> None:
    assert to_reporting(Decimal(1), "USD", at(28, month=2), RATES) == Decimal("7.1")
    assert to_reporting(Decimal(1), "USD", at(1), RATES) == Decimal("7.2")
    assert to_reporting(Decimal(1), "USD", at(1, month=12), RATES) == Decimal("7.2")


def test_the_day_is_the_utc_calendar_day_of_the_event() -> None:
    # 07:00 on 1 March in Shanghai is still 28 February in UTC: February's rate.
    from zoneinfo import ZoneInfo

    shanghai = datetime(2026, 3, 1, 7, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert to_reporting(Decimal(1), "USD", shanghai, RATES) == Decimal("7.1")


def test_the_reporting_currency_converts_at_one_without_a_rate() -> None:
    assert to_reporting(Decimal("99.5"), "CNY", at(1), ExchangeRates.of("CNY", [])) == Decimal(
        "99.5"
    )


def test_a_currency_without_a_rate_by_that_day_cannot_be_converted() -> None:
    with pytest.raises(NoRate, match=r"data\.currency"):
        to_reporting(Decimal(1), "EUR", at(1), RATES)
    with pytest.raises(NoRate):
        to_reporting(Decimal(1), "USD", at(31, month=12).replace(year=2025), RATES)
    assert not RATES.can_convert("EUR", date(2026, 3, 1))
    assert RATES.can_convert("JPY", date(2026, 3, 1))
