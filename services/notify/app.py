"""Notify service: playbooks turned into messages, through a durable schedule, on real channels."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from shared.gc_tuning import tune_garbage_collector
from shared.logging import get_logger
from shared.service_app import create_service_app
from shared.service_runtime import service_runtime

from .adapters.channels import ChannelAdapter
from .bootstrap import (
    build_calendar,
    build_channels,
    build_consumers,
    build_intake,
    build_sender,
    load_configuration,
)
from .domain import Channel
from .entrypoints.impact import router as impact_router
from .entrypoints.routes import router
from .entrypoints.unsubscribe import router as unsubscribe_router
from .service_layer.calendar import Calendar
from .service_layer.impact import ImpactReader
from .service_layer.intake import SERVICE
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


async def _close_channels(channels: dict[Channel, ChannelAdapter]) -> None:
    await asyncio.gather(*(c.close() for c in channels.values()), return_exceptions=True)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    async with service_runtime(app, settings, "clm-notify") as runtime:
        # A bad playbooks file stops start-up, naming the field.
        config = load_configuration(settings)
        engine, work = runtime.engine, runtime.work
        channels = build_channels(settings)
        work.close_at_stop(partial(_close_channels, channels))
        app.state.book, app.state.templates = config.book, config.templates
        app.state.impact = ImpactReader(engine, settings.reporting_currency, settings.channel_costs)
        tune_garbage_collector()
        work.run("outbox-relay", runtime.outbox_relay(SERVICE, settings.outbox_batch_size))
        if settings.run_consumer:
            intake = build_intake(engine, config, settings)
            for consumer in build_consumers(settings, runtime, intake):
                work.run(f"consumer-{consumer.topic}", consumer)
        if settings.run_calendar:
            calendar = build_calendar(engine, config, settings)
            mark = partial(_mark_calendar_days, calendar)
            work.every("calendar", mark, settings.calendar_interval_seconds)
        if settings.run_sender:
            sender = build_sender(engine, config, settings, channels)
            send = partial(_send_due, sender, settings.sender_batch_size)
            work.every("sender", send, settings.sender_interval_seconds)
        yield


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
