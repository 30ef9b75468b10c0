"""The clm-scoring consumer on clm.customer-events.v1: every batch in one transaction."""

from services.scoring.service_layer.service import ScoringService
from shared.customer_event_codec import decode_record
from shared.events import CustomerEvent
from shared.kafka_consumer import BatchConsumer, BatchHandler, Decoded, GroupMembers, Poison
from shared.kafka_producer import KafkaPublisher
from shared.topics import CUSTOMER_EVENTS


def batch_handler(service: ScoringService) -> BatchHandler[CustomerEvent]:
    async def handle(batch: list[Decoded[CustomerEvent]]) -> list[Poison]:
        _, unconvertible = await service.handle_convertible([item.message for item in batch])
        return [
            Poison(item.record, "NoRate: data.currency has no exchange rate by the event's day")
            for item in batch
            if item.message.event_id in unconvertible
        ]

    return handle


def events_consumer(
    service: ScoringService, dlq: KafkaPublisher, topic: str = CUSTOMER_EVENTS
) -> GroupMembers[CustomerEvent]:
    settings = service.settings

    def member(n: int) -> BatchConsumer[CustomerEvent]:
        return BatchConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topic=topic,
            group_id=settings.consumer_group,
            decode=decode_record,
            handle=batch_handler(service),
            dlq=dlq,
            max_records=settings.consumer_max_records,
            stuck_after_seconds=settings.consumer_stuck_after_seconds,
            client_id=f"{settings.consumer_group}-{n}",
        )

    return GroupMembers(settings.consumer_members, member)
