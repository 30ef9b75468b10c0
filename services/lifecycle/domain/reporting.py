"""A customer event's money in the reporting currency, before it joins the facts."""

from decimal import Decimal

from services.lifecycle.domain.facts import DomainEvent, EventType
from shared.money import ExchangeRates, to_reporting

_WITH_MONEY = (EventType.PURCHASE, EventType.REFUND)


def in_reporting_currency(event: DomainEvent, rates: ExchangeRates) -> DomainEvent:
    """The event with `amount` converted (and `currency` the reporting one); the amount as
    sent stays in `original_amount` / `original_currency`. Raises `NoRate` (a ValueError)
    when the currency has no rate by the event's day."""
    data = event.data
    currency, amount = data.get("currency"), data.get("amount")
    if event.type not in _WITH_MONEY or amount is None or currency is None:
        return event
    if currency == rates.reporting_currency:
        return event
    converted = to_reporting(Decimal(str(amount)), str(currency), event.occurred_at, rates)
    return DomainEvent(
        event.event_id,
        event.type,
        event.customer_id,
        event.occurred_at,
        {
            **data,
            "amount": converted,
            "currency": rates.reporting_currency,
            "original_amount": amount,
            "original_currency": currency,
        },
    )
