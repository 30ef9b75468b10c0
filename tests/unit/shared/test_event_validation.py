"""The contract's event models accept what CONTRACT.md allows and name the field of anything else."""

from typing import Any

import pytest
from pydantic import ValidationError

from shared.events import customer_event_adapter
from shared.problems import field_errors
from tests.support.factories import complaint, contact, profile, purchase


def _fields(payload: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationError) as info:
        customer_event_adapter.validate_python(payload)
    return {e["field"] for e in field_errors(info.value.errors())}


@pytest.mark.parametrize(
    "payload",
    [
        purchase("c1", "2024-03-01T10:15:00+08:00"),
        contact("c1", "2024-03-01T10:15:00Z"),
        complaint("c1", "2024-03-01T10:15:00-05:00", status="resolved"),
        profile(
            "c1",
            "2024-03-01T10:15:00+00:00",
            name="张三",
            email="z@example.cn",
            birthday="1990-02-03",
            locale="zh-CN",
            timezone="Asia/Shanghai",
            consent={"email": True, "sms": False},
            acquisition_cost="12.5",
        ),
    ],
)
def test_valid_events_of_every_type_are_accepted(payload: dict[str, Any]) -> None:
    event = customer_event_adapter.validate_python(payload)
    assert event.event_id == payload["event_id"]
    assert event.occurred_at.tzinfo is not None


def test_unknown_type_names_the_type_field() -> None:
    # "refund" was the example until refunds became an event type (README: Money and orders).
    payload = purchase("c1") | {"type": "chargeback"}
    assert _fields(payload) == {"type"}


def test_a_refund_is_a_known_type_and_its_amount_needs_a_currency() -> None:
    refund = purchase("c1") | {"type": "refund", "data": {"order_id": "1001"}}
    assert customer_event_adapter.validate_python(refund).type == "refund"
    assert _fields(refund | {"data": {"order_id": "1001", "amount": "5"}}) == {"data.currency"}


def test_bad_currency_is_rejected() -> None:
    payload = purchase("c1", data={"currency": "XYZ"})
    assert _fields(payload) == {"data.currency"}


def test_negative_amount_is_rejected() -> None:
    assert _fields(purchase("c1", amount="-0.01")) == {"data.amount"}


def test_naive_timestamp_is_rejected() -> None:
    assert _fields(purchase("c1", "2024-03-01T10:15:00")) == {"occurred_at"}


def test_epoch_numbers_are_not_timestamps() -> None:
    assert _fields(purchase("c1") | {"occurred_at": 1709259300}) == {"occurred_at"}
    assert _fields(purchase("c1") | {"occurred_at": 1709259300.5}) == {"occurred_at"}


def test_oversize_ids_and_texts_are_rejected() -> None:
    assert _fields(purchase("c" * 129)) == {"customer_id"}
    assert _fields(purchase("c1", event_id="e" * 129)) == {"event_id"}
    assert _fields(purchase("c1", data={"category": "x" * 257})) == {"data.category"}
    assert _fields(purchase("c1") | {"source": "s" * 257}) == {"source"}


def test_empty_event_id_is_rejected() -> None:
    assert _fields(purchase("c1", event_id="") | {"event_id": ""}) == {"event_id"}


def test_unknown_field_is_rejected() -> None:
    assert _fields(purchase("c1") | {"colour": "red"}) == {"colour"}


def test_contact_channel_and_direction_are_checked() -> None:
    payload = contact("c1")
    payload["data"] = {"channel": "fax", "direction": "sideways"}
    assert _fields(payload) == {"data.channel", "data.direction"}


def test_complaint_satisfaction_range() -> None:
    payload = complaint("c1")
    payload["data"]["satisfaction"] = 6
    assert _fields(payload) == {"data.satisfaction"}


def test_profile_locale_timezone_and_birthday_are_checked() -> None:
    payload = profile("c1", locale="not a tag!", timezone="Mars/Olympus", birthday="1990-2-3")
    assert _fields(payload) == {"data.locale", "data.timezone", "data.birthday"}
