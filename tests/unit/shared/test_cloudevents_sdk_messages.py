"""Our decoder reads every CloudEvents 1.0 Kafka message the official `cloudevents` SDK writes
and reads: binary and structured content mode, any subset of the optional attributes."""

import base64
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import orjson
from cloudevents.core.bindings import kafka as sdk_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as SdkCloudEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.cloudevents import from_kafka
from shared.customer_event_codec import SCHEMA_V1, decode_record
from shared.events import customer_event_adapter
from tests.support.factories import purchase

_names = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=30)
_times = st.datetimes(
    min_value=datetime(1990, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))]),
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_names, inner, max_size=3),
    max_leaves=8,
)
_CORE = {"id", "source", "type", "specversion", "subject", "time", "dataschema"}


@st.composite
def sdk_events(draw: st.DrawFn) -> SdkCloudEvent:
    attributes: dict[str, Any] = {"id": draw(_text), "source": draw(_text), "type": draw(_text)}
    optional = {
        "subject": _text,
        "time": _times,
        "dataschema": st.sampled_from(["urn:x:schema:v1", "https://schemas.example/e.json"]),
        "datacontenttype": st.sampled_from(["application/json", "application/json; charset=utf-8"]),
    }
    for name, values in optional.items():
        if draw(st.booleans()):
            attributes[name] = draw(values)
    extensions = draw(st.dictionaries(_names.filter(lambda n: n not in _CORE), _text, max_size=3))
    attributes.update({k: v for k, v in extensions.items() if k != "datacontenttype"})
    data = draw(st.dictionaries(_names, _json, max_size=4))
    return SdkCloudEvent(attributes, data)


def _written(
    event: SdkCloudEvent, structured: bool, without_time: bool = False
) -> sdk_kafka.KafkaMessage:
    """The SDK's message; `without_time` drops the optional time attribute, which the SDK's
    event object always sets (to now) but its Kafka binding reads without."""
    if structured:
        message = sdk_kafka.to_structured(event, JSONFormat())
        if without_time:
            envelope = {k: v for k, v in orjson.loads(message.value).items() if k != "time"}
            message = sdk_kafka.KafkaMessage(message.headers, message.key, orjson.dumps(envelope))
    else:
        message = sdk_kafka.to_binary(event, JSONFormat())
        if without_time:
            headers = {k: v for k, v in message.headers.items() if k != "ce_time"}
            message = sdk_kafka.KafkaMessage(headers, message.key, message.value)
    sdk_kafka.from_kafka_event(message)  # the SDK accepts it
    return message


def _decoded(message: sdk_kafka.KafkaMessage) -> Any:
    return from_kafka(message.value, list(message.headers.items()))


@settings(max_examples=300, deadline=None)
@given(event=sdk_events(), structured=st.booleans(), without_time=st.booleans())
def test_every_message_the_sdk_writes_is_read_with_the_same_attributes(
    event: SdkCloudEvent, structured: bool, without_time: bool
) -> None:
    message = _written(event, structured, without_time)
    read_by_sdk = sdk_kafka.from_kafka_event(message)
    ours = _decoded(message)
    assert ours.id == read_by_sdk.get_id()
    assert ours.source == read_by_sdk.get_source()
    assert ours.type == read_by_sdk.get_type()
    assert ours.subject == (read_by_sdk.get_subject() or "")
    assert ours.time == (None if without_time else read_by_sdk.get_time())
    assert ours.dataschema == read_by_sdk.get_dataschema()
    assert ours.data == read_by_sdk.get_data()
    sdk_extensions = {
        k: str(v)
        for k, v in read_by_sdk.get_attributes().items()
        if k not in _CORE | {"datacontenttype", "partitionkey"} and v is not None
    }
    assert {k: v for k, v in ours.extensions.items() if k != "partitionkey"} == sdk_extensions


def test_an_event_without_the_optional_time_is_read() -> None:
    event = SdkCloudEvent({"id": "e1", "source": "/s", "type": "t"}, {"a": 1})
    for structured in (False, True):
        decoded = _decoded(_written(event, structured, without_time=True))
        assert (decoded.id, decoded.time, decoded.data) == ("e1", None, {"a": 1})


def test_header_names_are_read_whatever_their_case_as_the_sdk_does() -> None:
    message = sdk_kafka.to_binary(
        SdkCloudEvent({"id": "e1", "source": "/s", "type": "t"}, {"a": 1}), JSONFormat()
    )
    shouted = {k.upper(): v for k, v in message.headers.items()}
    assert sdk_kafka.from_kafka_event(sdk_kafka.KafkaMessage(shouted, None, message.value))
    assert from_kafka(message.value, list(shouted.items())).id == "e1"


def test_structured_data_in_base64_is_read() -> None:
    envelope = {
        "specversion": "1.0", "id": "e1", "source": "/s", "type": "t",
        "datacontenttype": "application/json",
        "data_base64": base64.b64encode(b'{"a": 1}').decode(),
    }  # fmt: skip
    headers = [("content-type", b"application/cloudevents+json; charset=utf-8")]
    value = orjson.dumps(envelope)
    assert sdk_kafka.from_kafka_event(sdk_kafka.KafkaMessage(dict(headers), None, value))
    assert from_kafka(value, headers).data == {"a": 1}


def test_a_customer_event_the_sdk_writes_without_time_is_decoded() -> None:
    event = customer_event_adapter.validate_python(purchase("c-sdk", amount="12.50"))
    data = orjson.loads(customer_event_adapter.dump_json(event, exclude_none=True))
    sdk_event = SdkCloudEvent(
        {
            "id": event.event_id,
            "source": "/crm/exports",
            "type": "clm.customer.purchase",
            "dataschema": SCHEMA_V1,
            "datacontenttype": "application/json",
        },
        data,
    )
    for structured in (False, True):
        message = _written(sdk_event, structured, without_time=True)
        record = SimpleNamespace(value=message.value, headers=list(message.headers.items()))
        assert decode_record(record) == event
