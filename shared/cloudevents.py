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


class HeaderEncoder:
    """The one CloudEvents encoder of the platform (Kafka binary content mode): the header
    names, their order and their escaping, as Kafka headers (`binary`) or as the JSON text the
    outbox stores (`json`, byte-equal to `outbox_headers(binary(...))`).

    Bound once per kind of message to its constants (source, type, data schema), which are
    encoded and escaped once; per message only the id, subject and time are filled in. The
    order: specversion, id, source, type, subject, time, content-type, dataschema, extensions.
    """

    __slots__ = ("_b_schema", "_b_source", "_b_type", "_j_head", "_j_source", "_j_tail", "_j_type")

    def __init__(self, source: str, type: str = "", dataschema: str | None = None) -> None:
        self._b_source = source.encode()
        self._b_type = type.encode()
        self._b_schema = dataschema.encode() if dataschema else None
        self._j_head = f'[["ce_specversion","{SPEC_VERSION}"],["ce_id",'
        self._j_source = f'],["ce_source",{_quoted(source)}]'
        self._j_type = _type_json(type)
        schema = f',["ce_dataschema",{_quoted(dataschema)}]' if dataschema else ""
        self._j_tail = f',["content-type","{JSON}"]{schema}]'

    def binary(
        self,
        id: bytes,
        subject: bytes,
        time: bytes | None,
        *,
        type: bytes | None = None,
        extensions: KafkaHeaders | None = None,
    ) -> KafkaHeaders:
        headers: KafkaHeaders = [
            ("ce_specversion", _SPEC_VERSION),
            ("ce_id", id),
            ("ce_source", self._b_source),
            ("ce_type", self._b_type if type is None else type),
            ("ce_subject", subject),
        ]
        if time is not None:
            headers.append(("ce_time", time))
        headers.append(("content-type", _CONTENT_TYPE))
        if self._b_schema is not None:
            headers.append(("ce_dataschema", self._b_schema))
        if extensions:
            headers.extend(extensions)
        return headers

    def json(self, id: str, subject: str, time: str, *, type: str | None = None) -> str:
        """`time` is RFC 3339 text, which never needs JSON escaping; ids and subjects may."""
        kind = self._j_type if type is None else _type_json(type)
        return (
            f'{self._j_head}{_quoted(id)}{self._j_source}{kind},["ce_subject",{_quoted(subject)}],'
            f'["ce_time","{time}"]{self._j_tail}'
        )


_SPEC_VERSION = SPEC_VERSION.encode()
_CONTENT_TYPE = JSON.encode()


def _quoted(text: str) -> str:
    return orjson.dumps(text).decode()


@lru_cache(maxsize=256)
def _type_json(type: str) -> str:
    # Message types are few: each is escaped once.
    return f',["ce_type",{_quoted(type)}]'


@lru_cache(maxsize=256)
def header_encoder(source: str, type: str = "", dataschema: str | None = None) -> HeaderEncoder:
    return HeaderEncoder(source, type, dataschema)


def outbox_headers(headers: Sequence[tuple[str, bytes]]) -> str:
    """Kafka headers as the outbox keeps them: JSON text [[name, value], ...]."""
    return orjson.dumps([[k, v.decode()] for k, v in headers]).decode()


def to_kafka(topic: str, event: CloudEvent) -> KafkaRecord:
    encoder = header_encoder(event.source, event.type, event.dataschema)
    subject = event.subject.encode()
    headers = encoder.binary(
        event.id.encode(),
        subject,
        None if event.time is None else event.time.isoformat().encode(),
        extensions=[(f"ce_{k}", v.encode()) for k, v in event.extensions.items()],
    )
    value = orjson.dumps(event.data, option=orjson.OPT_NON_STR_KEYS)
    return KafkaRecord(topic, subject, value, headers)


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


def data_time(value: Any, name: str) -> datetime:
    """A time field of a message's data (RFC 3339 with a UTC offset); CloudEventError if not."""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise CloudEventError(f"{name} is not an RFC 3339 time") from exc
    if moment.tzinfo is None:
        raise CloudEventError(f"{name} needs a UTC offset")
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
