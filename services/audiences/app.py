"""Audiences service: segments over lifecycle state and scores, kept current and published."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shared.auth import KeyStore
from shared.db import make_engine
from shared.kafka_producer import KafkaPublisher
from shared.logging import configure_logging
from shared.outbox import OutboxRelay
from shared.periodic import run_periodically
from shared.service_app import create_service_app

from .bootstrap import build_consumers, build_intake, build_segments, build_sweeper
from .entrypoints.routes import router
from .service_layer.membership import SERVICE
from .settings import get_settings


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    configure_logging(settings.service_name, settings.log_level)
    engine = make_engine(settings.database_url, settings.db_pool_size)
    publisher = KafkaPublisher(settings.kafka_bootstrap_servers, "clm-audiences")
    intake = build_intake(engine, settings)
    consumers = build_consumers(settings, engine, intake, publisher)
    sweeper = build_sweeper(engine, settings)
    relay = OutboxRelay(
        engine, publisher, SERVICE, settings.outbox_batch_size, listen=settings.outbox_listen
    )
    stop = asyncio.Event()
    app.state.settings, app.state.engine, app.state.publisher = settings, engine, publisher
    app.state.segments = build_segments(engine, settings)
    app.state.key_store = KeyStore(engine, settings.api_key_cache_seconds)
    tasks = [asyncio.create_task(relay.run(), name="outbox-relay")]
    if settings.run_consumer:
        tasks += [asyncio.create_task(c.run(), name=f"consumer-{c.topic}") for c in consumers]
    if settings.run_sweeper:
        build = run_periodically(
            "segment_build", sweeper.build_pending, settings.build_interval_seconds, stop
        )
        sweep = run_periodically(
            "segment_sweep", sweeper.sweep_time, settings.sweep_interval_seconds, stop,
            wait_first=True,
        )  # fmt: skip
        tasks += [
            asyncio.create_task(build, name="build"),
            asyncio.create_task(sweep, name="sweep"),
        ]
    try:
        yield
    finally:
        for consumer in consumers:
            consumer.stop()
        relay.stop()
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await publisher.stop()
        await engine.dispose()


app = create_service_app(
    title="CLM audiences",
    description="Segments (audiences) defined by a filter over lifecycle state and scores: "
    "count, page and export their members; every entry and exit is published to "
    "clm.segment-memberships.v1, so a marketing tool can sync an audience without polling, "
    "and a notify playbook can start on entry.",
    lifespan=lifespan,
)
app.include_router(router)
