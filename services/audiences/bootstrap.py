"""Composition root: consumers and use cases wired from settings."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.kafka_consumer import BatchConsumer
from shared.service_runtime import ServiceRuntime, TopicWiring

from .adapters.erasure import erase_audiences_data
from .service_layer.intake import Intake
from .service_layer.membership import SERVICE
from .service_layer.observations import (
    decode_customer_event,
    decode_lifecycle_change,
    decode_scores,
)
from .service_layer.segments import Segments
from .service_layer.sweeper import Sweeper
from .settings import AudiencesSettings


def build_intake(engine: AsyncEngine, settings: AudiencesSettings) -> Intake:
    return Intake(engine, settings.now, erasure_secret=settings.erasure_secret)


def build_segments(engine: AsyncEngine, settings: AudiencesSettings) -> Segments:
    return Segments(engine, settings.now)


def build_sweeper(engine: AsyncEngine, settings: AudiencesSettings) -> Sweeper:
    return Sweeper(engine, settings.now, settings.sweep_chunk_size, settings.erasure_secret)


def build_consumers(
    settings: AudiencesSettings, runtime: ServiceRuntime, intake: Intake
) -> list[BatchConsumer[Any]]:
    """`<group>-lifecycle`, `-scores`, `-events` and `-state` (the erasure tombstones)."""
    wiring: list[TopicWiring] = [
        ("lifecycle", settings.lifecycle_topic, decode_lifecycle_change, intake.handle_changes),
        ("scores", settings.scores_topic, decode_scores, intake.handle_scores),
        ("events", settings.events_topic, decode_customer_event, intake.handle_events),
    ]
    return runtime.consumer_groups(settings, wiring, erase_audiences_data, SERVICE)
