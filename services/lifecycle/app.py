"""Lifecycle service: the per-customer state machine, its consumer, scheduler and outbox relay."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.lifecycle.adapters.score_messages import decode_score
from services.lifecycle.bootstrap import Processors, build_processors, load_configured_rules
from services.lifecycle.entrypoints.access_routes import router as access_router
from services.lifecycle.entrypoints.dashboard_redirect import router as dashboard_redirect
from services.lifecycle.entrypoints.routes import router
from services.lifecycle.service_layer.processing import (
    SERVICE,
    LifecycleProcessor,
    decode,
)
from shared.gc_tuning import tune_garbage_collector
from shared.kafka_consumer import GroupMembers
from shared.periodic import run_periodically
from shared.service_app import create_service_app
from shared.service_runtime import ServiceRuntime, service_runtime

from .settings import ClockMode, LifecycleSettings, get_settings


async def _scheduler(
    processor: LifecycleProcessor, settings: LifecycleSettings, stop: asyncio.Event
) -> None:
    # Claims skip rows another worker holds, so workers take disjoint batches; while one
    # waits on PostgreSQL another derives.
    batch = settings.scheduler_batch_size

    async def evaluate() -> bool:
        return await processor.evaluate_due(batch) >= batch

    interval = settings.scheduler_interval_seconds
    workers = range(settings.scheduler_workers)
    await asyncio.gather(
        *(run_periodically("scheduler", evaluate, interval, stop) for _ in workers)
    )


def _start_consumers(
    runtime: ServiceRuntime, settings: LifecycleSettings, processors: Processors
) -> None:
    events = GroupMembers(
        settings.consumer_members,
        lambda n: runtime.consumer(
            topic=settings.events_topic,
            group_id=settings.consumer_group,
            decode=decode,
            handle=processors.events.handle,
            max_records=settings.consumer_max_records,
            fetch_max_bytes=settings.consumer_fetch_max_bytes,
            client_id=f"{settings.consumer_group}-{n}",
            reports_progress=settings.clock is ClockMode.EVENT_TIME,  # the clock waits for them
        ),
    )
    scores = runtime.consumer(
        topic=settings.scores_topic,
        group_id=settings.scores_consumer_group,
        decode=decode_score,
        handle=processors.scores.handle_scores,
        max_records=settings.scores_max_records,
    )
    runtime.work.run("consumer", events)
    runtime.work.run("scores-consumer", scores)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    async with service_runtime(app, settings, "clm-lifecycle") as runtime:
        # A bad rules file or time zone stops start-up, naming the field.
        rules = load_configured_rules(settings)
        app.state.rules = rules
        processors = build_processors(settings, runtime.engine, rules)
        tune_garbage_collector()
        work = runtime.work
        work.run("outbox-relay", runtime.outbox_relay(SERVICE, settings.outbox_batch_size))
        if settings.run_consumer:
            _start_consumers(runtime, settings, processors)
        if settings.run_scheduler:
            work.task("scheduler", _scheduler(processors.events, settings, work.stopping))
        yield


app = create_service_app(
    title="CLM lifecycle",
    description="Per-customer lifecycle stage (acquisition, development, maintenance, churn), "
    "flags and tier, with the history of every change; changes are published to "
    "clm.lifecycle-changes.v1.",
    lifespan=lifespan,
)
app.include_router(router)
app.include_router(access_router)
app.include_router(dashboard_redirect)  # the dashboard's old paths: 307 to its service
