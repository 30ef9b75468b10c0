"""Customer events <-> CloudEvents on clm.customer-events.v1."""

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

from pydantic import ValidationError

from shared.cloudevents import (
    SPEC_VERSION,
    CloudEvent,
    CloudEventError,
    HeaderEncoder,
    KafkaHeaders,
    KafkaRecord,
    from_kafka,
    header_encoder,
)
from shared.events import CustomerEvent, customer_event_adapter
from shared.logging import TRACEPARENT_HEADER

SCHEMA_V1 = "urn:clm:schema:customer-event:v1"
TYPE_PREFIX = "clm.customer."
# The moments the consumers compute with: near year 1 or 9999, adding a window or a horizon
# overflows Python's dates (and PostgreSQL's), so such an event is refused when decoded (it
# goes to the DLQ) rather than parked in the state. Ingest refuses a narrower range.
EARLIEST_OCCURRED_AT = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_OCCURRED_AT = datetime(2200, 1, 1, tzinfo=UTC)


def to_cloudevent(event: CustomerEvent, traceparent: str | None = None) -> CloudEvent:
    """`traceparent` (W3C) becomes the CloudEvents distributed-tracing extension attribute."""
    data: dict[str, Any] = event.model_dump(mode="json", exclude_none=True)
    return CloudEvent(
        id=event.event_id,
        source=f"/clm/ingest/{event.source or 'api'}",
        type=f"{TYPE_PREFIX}{event.type}",
        subject=event.customer_id,
        time=event.occurred_at,
        data=data,
        dataschema=SCHEMA_V1,
        extensions={"traceparent": traceparent} if traceparent else {},
    )


_SPEC_VERSION = SPEC_VERSION.encode()
_SCHEMA_V1 = SCHEMA_V1.encode()


@lru_cache(maxsize=64)
def _encoder(source: str | None) -> HeaderEncoder:
    return header_encoder(f"/clm/ingest/{source or 'api'}", dataschema=SCHEMA_V1)


@lru_cache(maxsize=64)
def _type(event_type: str) -> bytes:
    return f"{TYPE_PREFIX}{event_type}".encode()


def to_kafka_record(
    topic: str, event: CustomerEvent, traceparent: bytes | None = None
) -> KafkaRecord:
    """`to_kafka(topic, to_cloudevent(event, traceparent))` in one step, for the ingest hot path.

    Gives the same key, headers and value bytes, without the intermediate dict and CloudEvent:
    pydantic serialises the event straight to JSON (same output as model_dump + orjson).
    """
    subject = event.customer_id.encode()
    headers = _encoder(event.source).binary(
        event.event_id.encode(),
        subject,
        event.occurred_at.isoformat().encode(),
        type=_type(event.type),
        extensions=[(TRACEPARENT_HEADER, traceparent)] if traceparent else None,
    )
    value = event.__pydantic_serializer__.to_json(event, exclude_none=True)
    return KafkaRecord(topic, subject, value, headers)


def from_cloudevent(ce: CloudEvent) -> CustomerEvent:
    if ce.dataschema != SCHEMA_V1:
        raise CloudEventError(f"unknown schema version {ce.dataschema!r}; expected {SCHEMA_V1}")
    try:
        event = customer_event_adapter.validate_python(ce.data)
    except ValidationError as exc:
        raise CloudEventError(f"invalid customer event: {exc.errors(include_url=False)}") from exc
    return computable(event)


def computable(event: CustomerEvent) -> CustomerEvent:
    """The event, if its moment is one the consumers can compute with."""
    at = event.occurred_at if event.occurred_at.tzinfo else event.occurred_at.replace(tzinfo=UTC)
    if not EARLIEST_OCCURRED_AT <= at < LATEST_OCCURRED_AT:
        raise CloudEventError(
            f"occurred_at {event.occurred_at.isoformat()} is outside the range the consumers "
            f"compute with [{EARLIEST_OCCURRED_AT.year}, {LATEST_OCCURRED_AT.year})"
        )
    return event


class ConsumedRecord(Protocol):
    """What decoding needs of a consumed Kafka record (aiokafka's ConsumerRecord has it)."""

    @property
    def value(self) -> bytes | None: ...

    @property
    def headers(self) -> KafkaHeaders | tuple[tuple[str, bytes], ...]: ...


def decode_record(record: ConsumedRecord) -> CustomerEvent:
    """Same result as ``from_cloudevent(from_kafka(...))``, which still decodes (and rejects,
    with its error) every record the fast path does not accept."""
    event = _fast(record)
    if event is not None:
        return computable(event)
    return from_cloudevent(from_kafka(record.value, record.headers))


def _fast(record: ConsumedRecord) -> CustomerEvent | None:
    """The event straight from the value bytes (pydantic's JSON parser, no intermediate dict)
    when the record is a well-formed customer-event CloudEvent; None for anything else."""
    headers = dict(record.headers or ())
    if (
        record.value is None
        or headers.get("ce_specversion") != _SPEC_VERSION
        or headers.get("ce_dataschema") != _SCHEMA_V1
        or not (headers.get("ce_id") and headers.get("ce_source") and headers.get("ce_type"))
    ):
        return None
    try:
        datetime.fromisoformat(headers.get("ce_time", b"").decode())
        return customer_event_adapter.validate_json(record.value)
    except (ValueError, ValidationError):  # the reference path names the problem
        return None
