"""Operator dashboard service: the page and its summary, reading the lifecycle, scoring and
notify APIs (composition root; run as `services.dashboard.app:app`). Its database engine
serves only the API key store."""

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.dashboard.routes import router
from services.dashboard.settings import get_dashboard_settings
from shared.auth import KeyStore
from shared.db import database_ready, make_engine
from shared.logging import configure_logging
from shared.service_app import ReadinessCheck, create_service_app


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_dashboard_settings()
    configure_logging(settings.service_name, settings.log_level)
    engine = make_engine(settings.database_url, settings.db_pool_size)
    app.state.settings, app.state.engine = settings, engine
    app.state.key_store = KeyStore(engine, settings.api_key_cache_seconds)
    try:
        yield
    finally:
        await engine.dispose()


def _database_only(app: FastAPI) -> Mapping[str, ReadinessCheck]:
    # The dashboard publishes nothing: Kafka is not its dependency; a service it reads that is
    # down makes its panels say so, not the dashboard unready.
    return {"database": lambda: database_ready(app.state.engine)}


app = create_service_app(
    title="CLM dashboard",
    description="The operator dashboard (GET /dashboard) and its summary "
    "(GET /v1/dashboard/summary): stages, tiers and patterns, transitions, at-risk customers, "
    "CLV and messages.",
    lifespan=lifespan,
    readiness=_database_only,
)
app.include_router(router)
