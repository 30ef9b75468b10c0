"""The clm-scoring consumer on clm.customer-events.v1: every batch in one transaction."""

from datetime import datetime

from aiokafka import ConsumerRecord
from pydantic import ValidationError

from services.scoring.service_layer.service import ScoringService
from shared.cloudevents import SPEC_VERSION, from_kafka
from shared.customer_event_codec import SCHEMA_V1, from_cloudevent
from shared.events import CustomerEvent, customer_event_adapter
from shared.kafka_consumer import BatchConsumer, BatchHandler, Decoded, Poison
from shared.kafka_producer import KafkaPublisher
from shared.topics import CUSTOMER_EVENTS

_SPEC_VERSION = SPEC_VERSION.encode()
_SCHEMA_V1 = SCHEMA_V1.encode()


def _fast(record: ConsumerRecord) -> CustomerEvent | None:  # type: ignore[type-arg]
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


def decode(record: ConsumerRecord) -> CustomerEvent:  # type: ignore[type-arg]
    """Same result as ``from_cloudevent(from_kafka(...))``, which still decodes (and rejects,
    with its error) every record the fast path does not accept."""
    event = _fast(record)
    if event is not None:
        return event
    return from_cloudevent(from_kafka(record.value, record.headers))


def batch_handler(service: ScoringService) -> BatchHandler[CustomerEvent]:
    async def handle(batch: list[Decoded[CustomerEvent]]) -> list[Poison]:
        await service.handle_events([item.message for item in batch])
        return []

    return handle


def events_consumer(
    service: ScoringService, dlq: KafkaPublisher, topic: str = CUSTOMER_EVENTS
) -> BatchConsumer[CustomerEvent]:
    settings = service.settings
    return BatchConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topic=topic,
        group_id=settings.consumer_group,
        decode=decode,
        handle=batch_handler(service),
        dlq=dlq,
        max_records=settings.consumer_max_records,
    )
