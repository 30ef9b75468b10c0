"""Scoring service: keeps CLV, churn risk and RFM current per customer (composition root)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from services.scoring.adapters.erasure import erase_scoring_data
from services.scoring.entrypoints.consumer import events_consumer
from services.scoring.entrypoints.diagnostics import router as diagnostics_router
from services.scoring.entrypoints.routes import router
from services.scoring.service_layer.service import SERVICE, ScoringService
from services.scoring.settings import get_settings
from shared.auth import KeyStore
from shared.db import make_engine
from shared.erasure_consumer import erasure_consumer
from shared.gc_tuning import tune_garbage_collector
from shared.kafka_producer import KafkaPublisher
from shared.logging import configure_logging
from shared.outbox import OutboxRelay
from shared.service_app import create_service_app


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    configure_logging(settings.service_name, settings.log_level)
    engine = make_engine(settings.database_url, settings.db_pool_size)
    publisher = KafkaPublisher(settings.kafka_bootstrap_servers, "clm-scoring")
    service = ScoringService(engine, settings)
    app.state.settings = settings
    app.state.engine = engine
    app.state.key_store = KeyStore(engine, settings.api_key_cache_seconds)
    app.state.publisher = publisher
    app.state.scoring = service
    consumer = events_consumer(service, publisher)
    erasures = erasure_consumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"{settings.consumer_group}-state",
        engine=engine,
        erase_own=partial(
            erase_scoring_data,
            secret=settings.erasure_secret,
            keep_aggregates=settings.erasure_keep_aggregates,
        ),
        secret=settings.erasure_secret,
        service=SERVICE,
        dlq=publisher,
        stuck_after_seconds=settings.consumer_stuck_after_seconds,
    )
    tune_garbage_collector()  # last, so that start-up objects are frozen out of collections
    relay = OutboxRelay(engine, publisher, SERVICE, listen=settings.outbox_listen)
    stopping = asyncio.Event()
    tasks = [
        asyncio.create_task(consumer.run(), name="scoring-consumer"),
        asyncio.create_task(erasures.run(), name="scoring-erasures"),
        asyncio.create_task(service.refit_periodically(stopping), name="scoring-refit"),
    ]
    if settings.relay_outbox:
        tasks.append(asyncio.create_task(relay.run(), name="scoring-outbox-relay"))
    try:
        yield
    finally:
        consumer.stop()
        erasures.stop()
        relay.stop()
        stopping.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await service.stop()
        await publisher.stop()
        await engine.dispose()


app = create_service_app(
    title="CLM scoring",
    description="Customer lifetime value, churn risk, RFM and health scores kept current from "
    "clm.customer-events.v1 (BG/NBD + Gamma-Gamma, fitted on demand and on a schedule); score "
    "updates on clm.customer-scores.v1; sBG retention for contractual series.",
    lifespan=lifespan,
)
app.include_router(router)
app.include_router(diagnostics_router)
