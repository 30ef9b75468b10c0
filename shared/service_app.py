"""The thin shell every service shares: problem handlers, correlation ids, metrics, health."""

import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import JSONResponse

from shared.logging import correlation_id
from shared.metrics import HTTP_LATENCY
from shared.problems import install_problem_handlers

ReadinessCheck = Callable[[], Awaitable[bool]]


def create_service_app(
    *,
    title: str,
    description: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    readiness: Callable[[FastAPI], Mapping[str, ReadinessCheck]],
    version: str = "1.0.0",
) -> FastAPI:
    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan)
    install_problem_handlers(app)

    @app.middleware("http")
    async def correlate_and_measure(request: Request, call_next: Any) -> Response:
        cid = request.headers.get("x-correlation-id") or uuid.uuid4().hex
        token = correlation_id.set(cid)
        started = time.perf_counter()
        try:
            response: Response = await call_next(request)
        finally:
            correlation_id.reset(token)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        HTTP_LATENCY.labels(request.method, path, response.status_code).observe(
            time.perf_counter() - started
        )
        response.headers["x-correlation-id"] = cid
        return response

    @app.get("/healthz", tags=["ops"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="Kafka and the database are reachable")
    async def readyz() -> JSONResponse:
        results = {name: await check() for name, check in readiness(app).items()}
        ok = all(results.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": results},
            status_code=200 if ok else 503,
        )

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
