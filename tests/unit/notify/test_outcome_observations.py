"""What notify learns for the playbooks' impact from the topics it already consumes."""

from datetime import UTC, datetime
from decimal import Decimal

from services.notify.service_layer.observations import (
    decode_lifecycle_change,
    observe_customer_event,
)
from shared.events import customer_event_adapter
from tests.support.factories import profile, purchase
from tests.unit.notify.test_observations import _change, _record

AT = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


def test_a_purchase_is_an_outcome_with_its_amount_and_currency() -> None:
    event = customer_event_adapter.validate_python(
        purchase("c1", AT, amount="12.50", data={"currency": "USD"})
    )
    o = observe_customer_event(event)
    assert o.outcome == {"kind": "purchase", "amount": Decimal("12.50"), "currency": "USD"}
    assert o.trigger is not None  # still a trigger and a cancellation, as before


def test_a_consent_withdrawn_is_an_opt_out_and_a_consent_given_is_not() -> None:
    withdrawn = customer_event_adapter.validate_python(
        profile("c1", AT, consent={"email": True, "sms": False})
    )
    assert observe_customer_event(withdrawn).outcome == {"kind": "opt_out", "channel": "sms"}
    given = customer_event_adapter.validate_python(profile("c1", AT, consent={"email": True}))
    assert observe_customer_event(given).outcome is None


def test_a_stage_change_is_an_outcome_and_a_correction_is_not() -> None:
    o = decode_lifecycle_change(
        _record("clm.lifecycle.stage_changed", _change(from_stage="churn", to_stage="development"))
    )
    assert o.outcome == {"kind": "stage", "from_stage": "churn", "to_stage": "development"}
    retraction = _change(from_stage="development", to_stage="churn", retracts="tr-0")
    assert (
        decode_lifecycle_change(_record("clm.lifecycle.stage_changed", retraction)).outcome is None
    )
