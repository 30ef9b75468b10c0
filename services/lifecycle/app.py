"""Lifecycle service: the per-customer state machine, its consumer, scheduler and outbox relay."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.lifecycle.adapters.score_messages import decode_score
from services.lifecycle.bootstrap import build_processors, load_configured_rules
from services.lifecycle.entrypoints.access_routes import router as access_router
from services.lifecycle.entrypoints.dashboard_redirect import router as dashboard_redirect
from services.lifecycle.entrypoints.routes import router
from services.lifecycle.service_layer.processing import (
    SERVICE,
    LifecycleProcessor,
    decode,
)
from shared.auth import KeyStore
from shared.db import make_engine
from shared.gc_tuning import tune_garbage_collector
from shared.kafka_consumer import BatchConsumer, GroupMembers
from shared.kafka_producer import KafkaPublisher
from shared.logging import configure_logging, get_logger
from shared.outbox import OutboxRelay
from shared.periodic import run_periodically
from shared.service_app import create_service_app

from .settings import LifecycleSettings, get_settings

log = get_logger(__name__)


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


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    configure_logging(settings.service_name, settings.log_level)
    # A bad rules file or time zone stops start-up, naming the field.
    rules = load_configured_rules(settings)
    tune_garbage_collector()
    engine = make_engine(settings.database_url, settings.db_pool_size)
    publisher = KafkaPublisher(settings.kafka_bootstrap_servers, "clm-lifecycle")
    processors = build_processors(settings, engine, rules)
    processor, score_processor = processors.events, processors.scores
    consumer = GroupMembers(
        settings.consumer_members,
        lambda n: BatchConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topic=settings.events_topic,
            group_id=settings.consumer_group,
            decode=decode,
            handle=processor.handle,
            dlq=publisher,
            max_records=settings.consumer_max_records,
            stuck_after_seconds=settings.consumer_stuck_after_seconds,
            fetch_max_bytes=settings.consumer_fetch_max_bytes,
            client_id=f"{settings.consumer_group}-{n}",
        ),
    )
    scores_consumer = BatchConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topic=settings.scores_topic,
        group_id=settings.scores_consumer_group,
        decode=decode_score,
        handle=score_processor.handle_scores,
        dlq=publisher,
        max_records=settings.scores_max_records,
    )
    relay = OutboxRelay(
        engine, publisher, SERVICE, settings.outbox_batch_size, listen=settings.outbox_listen
    )
    stop = asyncio.Event()
    app.state.settings, app.state.rules, app.state.engine = settings, rules, engine
    app.state.key_store = KeyStore(engine, settings.api_key_cache_seconds)
    app.state.publisher = publisher
    tasks = [asyncio.create_task(relay.run(), name="outbox-relay")]
    if settings.run_consumer:
        tasks.append(asyncio.create_task(consumer.run(), name="consumer"))
        tasks.append(asyncio.create_task(scores_consumer.run(), name="scores-consumer"))
    if settings.run_scheduler:
        tasks.append(asyncio.create_task(_scheduler(processor, settings, stop), name="scheduler"))
    try:
        yield
    finally:
        consumer.stop()
        scores_consumer.stop()
        relay.stop()
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await publisher.stop()
        await engine.dispose()


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
