"""Events whose money cannot be converted to the reporting currency are refused at the door."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.events import CustomerEvent
from shared.exchange_rates import RatesCache
from shared.money import ExchangeRates, event_day
from shared.problems import validation_problem


def unconvertible(events: Sequence[CustomerEvent], rates: ExchangeRates) -> list[int]:
    """Indexes of the events whose `data.currency` has no rate on or before their day."""
    bad = []
    for index, event in enumerate(events):
        currency = getattr(event.data, "currency", None)
        if currency and not rates.can_convert(currency, event_day(event.occurred_at)):
            bad.append(index)
    return bad


class CurrencyCheck:
    """Rates are only ever added, so a cached copy that converts an event is right; a miss is
    checked against the database before the event is refused."""

    def __init__(self, engine: AsyncEngine, reporting_currency: str) -> None:
        self._engine = engine
        self._cache = RatesCache(reporting_currency)

    async def refuse_unconvertible(
        self, events: Sequence[CustomerEvent], batch: bool = False
    ) -> None:
        if not unconvertible(events, self._cache.cached()):
            return
        bad = unconvertible(events, await self._cache.current_from(self._engine))
        if not bad:
            return
        reporting = self._cache.reporting_currency
        errors: list[dict[str, Any]] = []
        for index in bad:
            event = events[index]
            currency = getattr(event.data, "currency", None)
            error: dict[str, Any] = {
                "field": "data.currency",
                "message": f"no exchange rate {currency}->{reporting} on or before "
                f"{event_day(event.occurred_at).isoformat()}; load one with "
                "PUT /v1/exchange-rates",
                "code": "no_exchange_rate",
            }
            if batch:
                error["index"] = index
            errors.append(error)
        detail = (
            f"{len(bad)} event(s) at index {bad} have a currency without an exchange rate; "
            "nothing was accepted."
            if batch
            else "Invalid fields: data.currency"
        )
        raise validation_problem(errors, detail)
