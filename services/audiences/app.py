"""Audiences service: segments over lifecycle state and scores, kept current and published."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shared.service_app import create_service_app
from shared.service_runtime import service_runtime

from .bootstrap import build_consumers, build_intake, build_segments, build_sweeper
from .entrypoints.routes import router
from .service_layer.membership import SERVICE
from .settings import get_settings


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    async with service_runtime(app, settings, "clm-audiences") as runtime:
        work = runtime.work
        app.state.segments = build_segments(runtime.engine, settings)
        work.run("outbox-relay", runtime.outbox_relay(SERVICE, settings.outbox_batch_size))
        if settings.run_consumer:
            intake = build_intake(runtime.engine, settings)
            for consumer in build_consumers(settings, runtime, intake):
                work.run(f"consumer-{consumer.topic}", consumer)
        if settings.run_sweeper:
            sweeper = build_sweeper(runtime.engine, settings)
            work.every("segment_build", sweeper.build_pending, settings.build_interval_seconds)
            work.every(
                "segment_sweep", sweeper.sweep_time, settings.sweep_interval_seconds,
                wait_first=True,
            )  # fmt: skip
        yield


app = create_service_app(
    title="CLM audiences",
    description="Segments (audiences) defined by a filter over lifecycle state and scores: "
    "count, page and export their members; every entry and exit is published to "
    "clm.segment-memberships.v1, so a marketing tool can sync an audience without polling, "
    "and a notify playbook can start on entry.",
    lifespan=lifespan,
)
app.include_router(router)
