"""Every service reads an event's money in the reporting currency, never adding currencies."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.ingest.money import unconvertible
from services.lifecycle.domain.engine import derive
from services.lifecycle.domain.facts import CustomerFacts, DomainEvent, EventType, apply_all
from services.lifecycle.domain.reporting import in_reporting_currency
from services.lifecycle.domain.rules import LifecycleRules
from services.scoring.service_layer.facts import collect, convertible
from shared.events import customer_event_adapter
from shared.money import ExchangeRate, ExchangeRates, NoRate

RATES = ExchangeRates.of(
    "CNY",
    [
        ExchangeRate("USD", date(2026, 1, 1), Decimal("7.2")),
        ExchangeRate("JPY", date(2026, 1, 1), Decimal("0.048")),
    ],
)
AT = datetime(2026, 3, 2, 10, tzinfo=UTC)
CNY_TOTAL = Decimal("720") + Decimal("4.8") + Decimal("100")


def purchase(n: int, currency: str, amount: str = "100", order: str | None = None) -> dict:
    return {
        "event_id": f"ev-{n}",
        "type": "purchase",
        "customer_id": "c-fx",
        "occurred_at": AT.isoformat(),
        "data": {"order_id": order or f"o-{n}", "amount": amount, "currency": currency},
    }


def test_lifecycle_total_spend_of_100_usd_jpy_and_cny_is_in_cny_not_300() -> None:
    events = [
        DomainEvent(f"ev-{n}", EventType.PURCHASE, "c-fx", AT, {"order_id": f"o-{n}",
                    "amount": Decimal(100), "currency": currency})
        for n, currency in enumerate(("USD", "JPY", "CNY"))
    ]  # fmt: skip
    facts = apply_all(CustomerFacts("c-fx"), [in_reporting_currency(e, RATES) for e in events])
    assert derive(facts, LifecycleRules(), AT).total_spend == CNY_TOTAL


def test_lifecycle_keeps_the_amount_as_sent_beside_the_converted_one() -> None:
    event = DomainEvent("e", EventType.REFUND, "c-fx", AT, {"order_id": "o", "amount":
                        Decimal(10), "currency": "USD"})  # fmt: skip
    converted = in_reporting_currency(event, RATES)
    assert converted.data["amount"] == Decimal(72)
    assert converted.data["currency"] == "CNY"
    assert (converted.data["original_amount"], converted.data["original_currency"]) == (10, "USD")


def test_lifecycle_cannot_convert_a_currency_without_a_rate() -> None:
    event = DomainEvent("e", EventType.PURCHASE, "c-fx", AT, {"order_id": "o", "amount":
                        Decimal(10), "currency": "EUR"})  # fmt: skip
    with pytest.raises(NoRate):  # a ValueError: the consumer parks the event in the DLQ
        in_reporting_currency(event, RATES)


def test_scoring_facts_are_in_the_reporting_currency() -> None:
    events = [
        customer_event_adapter.validate_python(purchase(n, currency))
        for n, currency in enumerate(("USD", "JPY", "CNY"))
    ]
    facts = collect(events, RATES)
    assert sum(Decimal(str(row[4])) for row in facts.purchases) == CNY_TOTAL
    assert [row[2] for row in facts.purchases] == ["o-0", "o-1", "o-2"]


def test_scoring_sets_aside_events_whose_currency_has_no_rate() -> None:
    events = [customer_event_adapter.validate_python(purchase(n, c)) for n, c in enumerate(
        ("USD", "EUR"))]  # fmt: skip
    kept, refused = convertible(events, RATES)
    assert [e.event_id for e in kept] == ["ev-0"] and refused == {"ev-1"}


def test_scoring_keeps_refunds_with_their_order_and_converted_amount() -> None:
    refund = customer_event_adapter.validate_python(
        {**purchase(9, "USD"), "type": "refund", "data": {"order_id": "o-0", "amount": "1",
                                                          "currency": "USD"}}
    )  # fmt: skip
    full = customer_event_adapter.validate_python(
        {**purchase(8, "USD"), "type": "refund", "data": {"order_id": "o-1"}}
    )
    facts = collect([refund, full], RATES)
    assert [(r[2], r[4]) for r in facts.refunds] == [("o-0", 7.2), ("o-1", None)]
    assert facts.ordering_customers == ["c-fx"]


def test_ingest_names_the_events_whose_currency_has_no_rate_by_their_day() -> None:
    early = {**purchase(3, "USD"), "occurred_at": "2025-12-31T10:00:00+00:00"}
    events = [
        customer_event_adapter.validate_python(e)
        for e in (purchase(0, "USD"), purchase(1, "EUR"), purchase(2, "CNY"), early)
    ]
    assert unconvertible(events, RATES) == [1, 3]


def test_a_refund_amount_needs_a_currency() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="currency is required"):
        customer_event_adapter.validate_python(
            {**purchase(1, "USD"), "type": "refund", "data": {"order_id": "o", "amount": "5"}}
        )
