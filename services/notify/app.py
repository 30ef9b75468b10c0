"""Notify service: playbooks turned into messages, through a durable schedule, on real channels."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI

from shared.auth import KeyStore
from shared.db import make_engine
from shared.erasure_consumer import erasure_consumer
from shared.gc_tuning import tune_garbage_collector
from shared.kafka_consumer import BatchConsumer
from shared.kafka_producer import KafkaPublisher
from shared.logging import configure_logging, get_logger
from shared.outbox import OutboxRelay
from shared.periodic import run_periodically
from shared.service_app import create_service_app

from .adapters.erasure import erase_notify_data
from .bootstrap import (
    build_calendar,
    build_channels,
    build_intake,
    build_sender,
    load_configuration,
)
from .entrypoints.impact import router as impact_router
from .entrypoints.routes import router
from .entrypoints.unsubscribe import router as unsubscribe_router
from .service_layer.calendar import Calendar
from .service_layer.impact import ImpactReader
from .service_layer.intake import SERVICE
from .service_layer.observations import (
    decode_customer_event,
    decode_lifecycle_change,
    decode_scores,
    decode_segment_membership,
)
from .service_layer.sender import Sender
from .settings import get_settings

log = get_logger(__name__)


async def _send_due(sender: Sender, batch_size: int) -> bool:
    return await sender.run_once() >= batch_size


async def _mark_calendar_days(calendar: Calendar) -> bool:
    started = await calendar.run_once()
    if started:
        log.info("calendar_playbooks_started", messages=started)
    return False  # one scan a day covers the day


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    configure_logging(settings.service_name, settings.log_level)
    config = load_configuration(settings)  # a bad playbooks file stops start-up, naming the field
    tune_garbage_collector()
    engine = make_engine(settings.database_url, settings.db_pool_size)
    publisher = KafkaPublisher(settings.kafka_bootstrap_servers, "clm-notify")
    channels = build_channels(settings)
    intake = build_intake(engine, config, settings)
    sender = build_sender(engine, config, settings, channels)
    consumers: list[BatchConsumer[Any]] = [
        BatchConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topic=settings.lifecycle_topic,
            group_id=f"{settings.consumer_group}-lifecycle",
            decode=decode_lifecycle_change,
            handle=intake.handle_changes,
            dlq=publisher,
            max_records=settings.consumer_max_records,
            stuck_after_seconds=settings.consumer_stuck_after_seconds,
        ),
        BatchConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topic=settings.events_topic,
            group_id=f"{settings.consumer_group}-events",
            decode=decode_customer_event,
            handle=intake.handle_events,
            dlq=publisher,
            max_records=settings.consumer_max_records,
            stuck_after_seconds=settings.consumer_stuck_after_seconds,
        ),
    ]
    consumers.append(
        erasure_consumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=f"{settings.consumer_group}-state",
            engine=engine,
            erase_own=erase_notify_data,
            secret=settings.erasure_secret,
            service=SERVICE,
            dlq=publisher,
            stuck_after_seconds=settings.consumer_stuck_after_seconds,
        )
    )
    if settings.run_scores_consumer:
        consumers.append(
            BatchConsumer(
                bootstrap_servers=settings.kafka_bootstrap_servers,
                topic=settings.scores_topic,
                group_id=f"{settings.consumer_group}-scores",
                decode=decode_scores,
                handle=intake.handle_scores,
                dlq=publisher,
                max_records=settings.consumer_max_records,
                stuck_after_seconds=settings.consumer_stuck_after_seconds,
            )
        )
    if settings.run_segments_consumer:
        consumers.append(
            BatchConsumer(
                bootstrap_servers=settings.kafka_bootstrap_servers,
                topic=settings.segments_topic,
                group_id=f"{settings.consumer_group}-segments",
                decode=decode_segment_membership,
                handle=intake.handle_segments,
                dlq=publisher,
                max_records=settings.consumer_max_records,
                stuck_after_seconds=settings.consumer_stuck_after_seconds,
            )
        )
    relay = OutboxRelay(
        engine, publisher, SERVICE, settings.outbox_batch_size, listen=settings.outbox_listen
    )
    stop = asyncio.Event()
    app.state.settings, app.state.engine, app.state.publisher = settings, engine, publisher
    app.state.book, app.state.templates = config.book, config.templates
    app.state.key_store = KeyStore(engine, settings.api_key_cache_seconds)
    app.state.impact = ImpactReader(engine, settings.reporting_currency, settings.channel_costs)
    tasks = [asyncio.create_task(relay.run(), name="outbox-relay")]
    if settings.run_consumer:
        tasks += [asyncio.create_task(c.run(), name=f"consumer-{c.topic}") for c in consumers]
    if settings.run_calendar:
        calendar = build_calendar(engine, config, settings)
        mark = partial(_mark_calendar_days, calendar)
        interval = settings.calendar_interval_seconds
        tasks.append(
            asyncio.create_task(run_periodically("calendar", mark, interval, stop), name="calendar")
        )
    if settings.run_sender:
        send = partial(_send_due, sender, settings.sender_batch_size)
        interval = settings.sender_interval_seconds
        tasks.append(
            asyncio.create_task(run_periodically("sender", send, interval, stop), name="sender")
        )
    try:
        yield
    finally:
        for consumer in consumers:
            consumer.stop()
        relay.stop()
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(c.close() for c in channels.values()), return_exceptions=True)
        await publisher.stop()
        await engine.dispose()


app = create_service_app(
    title="CLM notify",
    description="Care and win-back playbooks: lifecycle changes and customer events become "
    "scheduled messages (email over SMTP, SMS over HTTP, signed webhooks for staff tasks), "
    "with consent, quiet hours, frequency caps and at-most-once delivery per trigger "
    "occurrence. Every decision is stored and published to clm.notifications.v1.",
    lifespan=lifespan,
)
app.include_router(router)
app.include_router(impact_router)
app.include_router(unsubscribe_router)
