"""CloudEvents 1.0 in Kafka binary content mode: attributes in ce_* headers, data as the value.

Binary mode keeps the value a plain JSON document (easy for any consumer) and lets brokers and
tools route on headers without parsing bodies. The key is the customer id (partitioning).
"""

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

SPEC_VERSION = "1.0"
JSON = "application/json"
KafkaHeaders = list[tuple[str, bytes]]


class CloudEventError(ValueError):
    """A Kafka record that is not a CloudEvent we can read."""


@dataclass(frozen=True)
class CloudEvent:
    id: str
    source: str
    type: str
    subject: str
    time: datetime | None  # optional in CloudEvents 1.0
    data: dict[str, Any]
    dataschema: str | None = None
    extensions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class KafkaRecord:
    topic: str
    key: bytes
    value: bytes
    headers: KafkaHeaders


def to_kafka(topic: str, event: CloudEvent) -> KafkaRecord:
    headers: KafkaHeaders = [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", event.id.encode()),
        ("ce_source", event.source.encode()),
        ("ce_type", event.type.encode()),
        ("ce_subject", event.subject.encode()),
        ("content-type", JSON.encode()),
    ]
    if event.time is not None:
        headers.insert(5, ("ce_time", event.time.isoformat().encode()))
    if event.dataschema:
        headers.append(("ce_dataschema", event.dataschema.encode()))
    headers.extend((f"ce_{k}", v.encode()) for k, v in event.extensions.items())
    value = orjson.dumps(event.data, option=orjson.OPT_NON_STR_KEYS)
    return KafkaRecord(topic, event.subject.encode(), value, headers)


_CORE = {
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_subject",
    "ce_time",
    "ce_dataschema",
}
STRUCTURED = "application/cloudevents+json"
_ENVELOPE = {"specversion", "id", "source", "type", "subject", "time", "dataschema"}
_ENVELOPE_DATA = {"data", "data_base64", "datacontenttype"}


def from_kafka(
    value: bytes | None, headers: KafkaHeaders | tuple[tuple[str, bytes], ...]
) -> CloudEvent:
    """Reads binary content mode (ce_* headers) and structured mode (the whole event as
    application/cloudevents+json in the value), like the CloudEvents SDK's Kafka binding:
    header names in any case, every optional attribute (subject, time, dataschema) optional."""
    attrs = {k.lower(): v.decode("utf-8", "replace") for k, v in headers}
    binary = any(k.startswith("ce_") for k in attrs)
    if not binary and _media_type(attrs.get("content-type", "")) == STRUCTURED:
        return _from_envelope(_json_object(value, "value"))
    if attrs.get("ce_specversion") != SPEC_VERSION:
        raise CloudEventError(f"not a CloudEvents {SPEC_VERSION} record (ce_specversion missing)")
    return _event(
        {k[3:]: v for k, v in attrs.items() if k.startswith("ce_")}, _json_object(value, "value")
    )


def _media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def _json_object(raw: bytes | str | None, what: str) -> dict[str, Any]:
    if raw is None:
        raise CloudEventError("record has no value")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CloudEventError(f"{what} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CloudEventError(f"{what} must be a JSON object")
    return data


def _from_envelope(envelope: dict[str, Any]) -> CloudEvent:
    if envelope.get("specversion") != SPEC_VERSION:
        raise CloudEventError(f"not a CloudEvents {SPEC_VERSION} event (specversion missing)")
    if "data_base64" in envelope:
        try:
            raw = base64.b64decode(str(envelope["data_base64"]), validate=True)
        except ValueError as exc:
            raise CloudEventError("data_base64 is not base64") from exc
        data = _json_object(raw, "data_base64")
    elif isinstance(envelope.get("data"), dict):
        data = envelope["data"]
    else:
        raise CloudEventError("data must be a JSON object")
    attributes = {
        k: v if isinstance(v, str) else _extension_text(v)
        for k, v in envelope.items()
        if k not in _ENVELOPE_DATA and v is not None
    }
    return _event(attributes, data)


def _extension_text(value: Any) -> str:
    # CloudEvents JSON carries boolean and integer attributes natively; binary mode as text.
    return orjson.dumps(value).decode() if isinstance(value, bool) else str(value)


def _event(attributes: dict[str, str], data: dict[str, Any]) -> CloudEvent:
    for required in ("id", "source", "type"):
        if not attributes.get(required):
            raise CloudEventError(f"missing attribute {required} (header ce_{required})")
    return CloudEvent(
        id=attributes["id"],
        source=attributes["source"],
        type=attributes["type"],
        subject=attributes.get("subject", ""),
        time=_time(attributes.get("time")),
        data=data,
        dataschema=attributes.get("dataschema"),
        extensions={k: v for k, v in attributes.items() if k not in _ENVELOPE},
    )


def _time(raw: str | None) -> datetime | None:
    if raw is None:  # optional in CloudEvents 1.0
        return None
    try:
        # RFC 3339 allows a lower-case "t" and "z"; fromisoformat wants them upper-case.
        moment = datetime.fromisoformat(raw.upper())
    except ValueError as exc:
        raise CloudEventError("ce_time is not an RFC 3339 time") from exc
    if moment.tzinfo is None:
        raise CloudEventError("ce_time is not an RFC 3339 time (no UTC offset)")
    return moment


def ce_type_of(headers: Sequence[tuple[str, bytes]] | None) -> str:
    """The ce_type header of a Kafka record (binary mode), for metrics; "unknown" if absent."""
    for k, v in headers or ():
        if k == "ce_type":
            return _decoded(v)
    return "unknown"


@lru_cache(maxsize=64)
def _decoded(value: bytes) -> str:
    return value.decode(errors="replace")
