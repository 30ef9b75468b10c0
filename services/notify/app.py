"""Notify service (skeleton: settings, health and readiness)."""

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shared.auth import KeyStore
from shared.db import database_ready, make_engine
from shared.kafka_producer import KafkaPublisher
from shared.logging import configure_logging
from shared.service_app import ReadinessCheck, create_service_app
from shared.settings import ServiceSettings


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = ServiceSettings(service_name="notify")
    configure_logging(settings.service_name, settings.log_level)
    engine = make_engine(settings.database_url, settings.db_pool_size)
    app.state.engine = engine
    app.state.key_store = KeyStore(engine, settings.api_key_cache_seconds)
    app.state.publisher = KafkaPublisher(settings.kafka_bootstrap_servers, "clm-notify")
    try:
        yield
    finally:
        await app.state.publisher.stop()
        await engine.dispose()


def _readiness(app: FastAPI) -> Mapping[str, ReadinessCheck]:
    return {
        "kafka": app.state.publisher.ready,
        "database": lambda: database_ready(app.state.engine),
    }


app = create_service_app(
    title="CLM notify", description="notify service", lifespan=lifespan, readiness=_readiness
)
