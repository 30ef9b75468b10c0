"""Money in the reporting currency: dated exchange rates and the one conversion rule.

Pure: the rates are a value loaded by an adapter (shared/exchange_rates.py). A rate is the
number of reporting-currency units one unit of `currency` buys from its `day` on, until the
next rate of that currency. An amount is converted at the rate in force on the event's
calendar day (UTC): the most recent rate dated on or before that day.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

# Amounts in the reporting currency keep four decimals, as the events' amounts do.
_QUANTUM = Decimal("0.0001")


class NoRate(ValueError):
    """No rate of `currency` dated on or before `day`: the amount cannot be converted."""

    def __init__(self, currency: str, day: date, reporting_currency: str) -> None:
        self.currency, self.day = currency, day
        super().__init__(
            f"data.currency: no exchange rate {currency}->{reporting_currency} "
            f"on or before {day.isoformat()}"
        )


@dataclass(frozen=True, slots=True)
class ExchangeRate:
    currency: str
    day: date
    rate: Decimal
    """Reporting-currency units per one unit of `currency`, from `day` on."""


@dataclass(frozen=True)
class ExchangeRates:
    """Every loaded rate to one reporting currency, by currency and day."""

    reporting_currency: str
    _days: Mapping[str, tuple[date, ...]] = field(default_factory=dict)
    _rates: Mapping[str, tuple[Decimal, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, reporting_currency: str, rates: Iterable[ExchangeRate]) -> ExchangeRates:
        by_currency: dict[str, dict[date, Decimal]] = {}
        for rate in rates:
            by_currency.setdefault(rate.currency, {})[rate.day] = rate.rate
        days = {c: tuple(sorted(d)) for c, d in by_currency.items()}
        values = {c: tuple(by_currency[c][d] for d in days[c]) for c in days}
        return cls(reporting_currency, days, values)

    def rate_on(self, currency: str, day: date) -> Decimal:
        """The rate in force on `day`; 1 for the reporting currency itself."""
        if currency == self.reporting_currency:
            return Decimal(1)
        days = self._days.get(currency, ())
        index = bisect_right(days, day)
        if index == 0:
            raise NoRate(currency, day, self.reporting_currency)
        return self._rates[currency][index - 1]

    def can_convert(self, currency: str, day: date) -> bool:
        try:
            self.rate_on(currency, day)
        except NoRate:
            return False
        return True

    def listed(self) -> list[ExchangeRate]:
        return [
            ExchangeRate(currency, day, rate)
            for currency in sorted(self._days)
            for day, rate in zip(self._days[currency], self._rates[currency], strict=True)
        ]


def event_day(occurred_at: datetime) -> date:
    """The calendar day (UTC) whose rate converts an event's amount."""
    return occurred_at.astimezone(UTC).date()


def to_reporting(
    amount: Decimal, currency: str, occurred_at: datetime, rates: ExchangeRates
) -> Decimal:
    """`amount` of `currency` in the reporting currency at the rate of the event's day."""
    rate = rates.rate_on(currency, event_day(occurred_at))
    return (amount * rate).quantize(_QUANTUM)
