"""Ingest service: validates customer events and makes them durable on Kafka."""

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema

from shared.db import database_ready
from shared.gc_tuning import tune_garbage_collector
from shared.service_app import ReadinessCheck, create_service_app
from shared.service_runtime import service_database

from .api_keys_routes import router as api_keys_router
from .money import CurrencyCheck
from .publishing import EventPublishing
from .rates_routes import router as rates_router
from .routes import BatchBody, router
from .settings import get_settings


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    async with service_database(app, settings) as engine:
        app.state.publishing = EventPublishing(settings)
        app.state.currency_check = CurrencyCheck(engine, settings.reporting_currency)
        tune_garbage_collector()
        try:
            yield
        finally:
            await app.state.publishing.stop()


def _readiness(app: FastAPI) -> Mapping[str, ReadinessCheck]:
    return {
        "kafka": app.state.publishing.ready,
        "database": lambda: database_ready(app.state.engine),
    }


def _event_schemas(spec: dict[str, Any]) -> None:
    """The event union as named components (the routes read the body themselves)."""
    _, defs = models_json_schema(
        [(BatchBody, "validation")], ref_template="#/components/schemas/{model}"
    )
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    components.update(defs.get("$defs", {}))
    components["CustomerEvent"] = BatchBody.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )["properties"]["events"]["items"]


app = create_service_app(
    title="CLM ingest",
    description="Accepts purchase, contact, complaint, profile and refund events and publishes them "
    "to clm.customer-events.v1 as CloudEvents; keeps the exchange rates to the reporting "
    "currency.",
    lifespan=lifespan,
    readiness=_readiness,
    openapi_extend=_event_schemas,
)
app.include_router(router)
app.include_router(api_keys_router)
app.include_router(rates_router)
