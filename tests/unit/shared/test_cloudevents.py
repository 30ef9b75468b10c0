"""Our CloudEvents binary-mode records round-trip and are readable by the CloudEvents SDK."""

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event

from shared.cloudevents import CloudEventError, from_kafka, to_kafka
from shared.customer_event_codec import SCHEMA_V1, from_cloudevent, to_cloudevent
from shared.events import customer_event_adapter
from shared.topics import CUSTOMER_EVENTS
from tests.support.factories import purchase


def _record():  # type: ignore[no-untyped-def]
    event = customer_event_adapter.validate_python(
        purchase("cust-42", "2024-03-01T10:15:00+08:00", amount="12.50")
    )
    return event, to_kafka(CUSTOMER_EVENTS, to_cloudevent(event))


def test_key_is_the_customer_id_and_headers_carry_the_attributes() -> None:
    event, record = _record()
    headers = dict(record.headers)
    assert record.key == b"cust-42"
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_id"] == event.event_id.encode()
    assert headers["ce_type"] == b"clm.customer.purchase"
    assert headers["ce_subject"] == b"cust-42"
    assert headers["content-type"] == b"application/json"


def test_round_trip_gives_back_the_same_event() -> None:
    event, record = _record()
    decoded = from_cloudevent(from_kafka(record.value, record.headers))
    assert decoded == event


def test_the_cloudevents_sdk_parses_what_we_publish() -> None:
    event, record = _record()
    message = KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
    parsed = from_binary_event(message)
    assert parsed.get_specversion() == "1.0"
    assert parsed.get_id() == event.event_id
    assert parsed.get_type() == "clm.customer.purchase"
    assert parsed.get_subject() == "cust-42"
    assert parsed.get_dataschema() == SCHEMA_V1
    assert parsed.get_time() == event.occurred_at
    data = parsed.get_data()
    assert isinstance(data, dict)
    assert data["data"]["amount"] == "12.50"
    assert data["customer_id"] == "cust-42"


def test_records_that_are_not_cloudevents_are_refused() -> None:
    with pytest.raises(CloudEventError):
        from_kafka(b"{}", [("content-type", b"application/json")])
    _, record = _record()
    with pytest.raises(CloudEventError):
        from_kafka(b"not json", record.headers)


def test_an_unknown_schema_version_is_refused() -> None:
    _, record = _record()
    headers = [
        (k, b"urn:clm:schema:customer-event:v9" if k == "ce_dataschema" else v)
        for k, v in record.headers
    ]
    with pytest.raises(CloudEventError, match="unknown schema"):
        from_cloudevent(from_kafka(record.value, headers))


def test_the_fast_record_builder_writes_the_same_bytes_as_the_cloudevent_path() -> None:
    from shared.customer_event_codec import to_kafka_record
    from tests.support.factories import complaint, contact, profile

    for payload in (
        purchase("c-1", "2024-03-01T10:15:00+08:00"),
        contact("c-2", "2024-03-01T10:15:00Z"),
        complaint("c-3", "2024-03-01T10:15:00Z"),
        profile("c-4", "2024-03-01T10:15:00Z", name="张三", locale="zh-CN"),
    ):
        event = customer_event_adapter.validate_python(payload)
        assert to_kafka_record(CUSTOMER_EVENTS, event) == to_kafka(
            CUSTOMER_EVENTS, to_cloudevent(event)
        )


def test_decode_record_reads_what_the_reference_path_reads_and_refuses_the_same() -> None:
    from types import SimpleNamespace

    from shared.customer_event_codec import decode_record
    from tests.support.factories import complaint, contact, profile

    for payload in (
        purchase("c-1", "2024-03-01T10:15:00+08:00", amount="12.50"),
        contact("c-2", "2024-03-01T10:15:00Z"),
        complaint("c-3", "2024-03-01T10:15:00Z"),
        profile("c-4", "2024-03-01T10:15:00Z", name="张三", locale="zh-CN"),
    ):
        record = to_kafka(
            CUSTOMER_EVENTS, to_cloudevent(customer_event_adapter.validate_python(payload))
        )
        reference = from_cloudevent(from_kafka(record.value, record.headers))
        assert decode_record(record) == reference
    headers = [
        (k, b"urn:clm:schema:customer-event:v9" if k == "ce_dataschema" else v)
        for k, v in record.headers
    ]
    with pytest.raises(CloudEventError, match="unknown schema"):
        decode_record(SimpleNamespace(value=record.value, headers=headers))
    with pytest.raises(CloudEventError, match="invalid customer event"):
        decode_record(SimpleNamespace(value=b'{"type": "purchase"}', headers=record.headers))
