"""Customer events <-> CloudEvents on clm.customer-events.v1."""

from typing import Any

from pydantic import ValidationError

from shared.cloudevents import CloudEvent, CloudEventError
from shared.events import CustomerEvent, customer_event_adapter

SCHEMA_V1 = "urn:clm:schema:customer-event:v1"
TYPE_PREFIX = "clm.customer."


def to_cloudevent(event: CustomerEvent) -> CloudEvent:
    data: dict[str, Any] = event.model_dump(mode="json", exclude_none=True)
    return CloudEvent(
        id=event.event_id,
        source=f"/clm/ingest/{event.source or 'api'}",
        type=f"{TYPE_PREFIX}{event.type}",
        subject=event.customer_id,
        time=event.occurred_at,
        data=data,
        dataschema=SCHEMA_V1,
    )


def from_cloudevent(ce: CloudEvent) -> CustomerEvent:
    if ce.dataschema != SCHEMA_V1:
        raise CloudEventError(f"unknown schema version {ce.dataschema!r}; expected {SCHEMA_V1}")
    try:
        return customer_event_adapter.validate_python(ce.data)
    except ValidationError as exc:
        raise CloudEventError(f"invalid customer event: {exc.errors(include_url=False)}") from exc
