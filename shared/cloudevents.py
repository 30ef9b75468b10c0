"""CloudEvents 1.0 in Kafka binary content mode: attributes in ce_* headers, data as the value.

Binary mode keeps the value a plain JSON document (easy for any consumer) and lets brokers and
tools route on headers without parsing bodies. The key is the customer id (partitioning).
"""

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
    time: datetime
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
        ("ce_time", event.time.isoformat().encode()),
        ("content-type", JSON.encode()),
    ]
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


def from_kafka(
    value: bytes | None, headers: KafkaHeaders | tuple[tuple[str, bytes], ...]
) -> CloudEvent:
    attrs = {k: v.decode("utf-8", "replace") for k, v in headers}
    if attrs.get("ce_specversion") != SPEC_VERSION:
        raise CloudEventError(f"not a CloudEvents {SPEC_VERSION} record (ce_specversion missing)")
    for required in ("ce_id", "ce_source", "ce_type"):
        if not attrs.get(required):
            raise CloudEventError(f"missing header {required}")
    if value is None:
        raise CloudEventError("record has no value")
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise CloudEventError(f"value is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CloudEventError("value must be a JSON object")
    try:
        moment = datetime.fromisoformat(attrs.get("ce_time", ""))
    except ValueError as exc:
        raise CloudEventError("ce_time is not an RFC 3339 time") from exc
    return CloudEvent(
        id=attrs["ce_id"],
        source=attrs["ce_source"],
        type=attrs["ce_type"],
        subject=attrs.get("ce_subject", ""),
        time=moment,
        data=data,
        dataschema=attrs.get("ce_dataschema"),
        extensions={k[3:]: v for k, v in attrs.items() if k.startswith("ce_") and k not in _CORE},
    )


def ce_type_of(headers: Sequence[tuple[str, bytes]] | None) -> str:
    """The ce_type header of a Kafka record (binary mode), for metrics; "unknown" if absent."""
    for k, v in headers or ():
        if k == "ce_type":
            return _decoded(v)
    return "unknown"


@lru_cache(maxsize=64)
def _decoded(value: bytes) -> str:
    return value.decode(errors="replace")
