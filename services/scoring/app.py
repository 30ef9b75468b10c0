"""Scoring service: keeps CLV, churn risk and RFM current per customer (composition root)."""

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
from shared.gc_tuning import tune_garbage_collector
from shared.service_app import create_service_app
from shared.service_runtime import service_runtime


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    async with service_runtime(app, settings, "clm-scoring") as runtime:
        work = runtime.work
        service = ScoringService(runtime.engine, settings)
        app.state.scoring = service
        work.close_at_stop(service.stop)
        erase_own = partial(
            erase_scoring_data,
            secret=settings.erasure_secret,
            keep_aggregates=settings.erasure_keep_aggregates,
        )
        erasures = runtime.erasures(
            group_id=f"{settings.consumer_group}-state", erase_own=erase_own, service=SERVICE
        )
        tune_garbage_collector()  # last, so that start-up objects are frozen out of collections
        work.run("scoring-consumer", events_consumer(service, runtime.publisher))
        work.run("scoring-erasures", erasures)
        work.task("scoring-refit", service.refit_periodically(work.stopping))
        if settings.relay_outbox:
            work.run("scoring-outbox-relay", runtime.outbox_relay(SERVICE))
        yield


app = create_service_app(
    title="CLM scoring",
    description="Customer lifetime value, churn risk, RFM and health scores kept current from "
    "clm.customer-events.v1 (BG/NBD + Gamma-Gamma, fitted on demand and on a schedule); score "
    "updates on clm.customer-scores.v1; sBG retention for contractual series.",
    lifespan=lifespan,
)
app.include_router(router)
app.include_router(diagnostics_router)
