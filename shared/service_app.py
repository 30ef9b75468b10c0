"""The thin shell every service shares: problem handlers, correlation and trace ids, metrics,
health."""

import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import consumer_progress
from shared.db import database_ready
from shared.logging import correlation_id, new_trace, parse_traceparent, trace_context
from shared.metrics import HTTP_LATENCY
from shared.problems import install_problem_handlers

ReadinessCheck = Callable[[], Awaitable[bool]]
_CID_HEADER = b"x-correlation-id"
_TRACEPARENT = b"traceparent"
_TRACERESPONSE = b"traceresponse"  # W3C Trace Context level 2: our span, for the caller


class CorrelateAndMeasure:
    """Binds a correlation id (from x-correlation-id, else the trace id), echoes it, and times
    the request. The W3C trace context continues the caller's `traceparent` with a new span of
    ours, or starts a trace; every log line of the request carries its trace_id and span_id, and
    `traceresponse` tells the caller our span.

    A pure ASGI middleware: unlike @app.middleware("http") (BaseHTTPMiddleware) it adds no extra
    task, memory stream or Request/Response objects per request, which matters on the hot path.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw, parent = b"", None
        for k, v in scope["headers"]:
            if k == _CID_HEADER:
                raw = v
            elif k == _TRACEPARENT:
                parent = parse_traceparent(v)
        trace = parent.child() if parent is not None else new_trace()
        cid = raw.decode("latin-1") if raw else trace.trace_id
        added = [(_CID_HEADER, cid.encode("latin-1")), (_TRACERESPONSE, trace.traceparent.encode())]
        ours = (_CID_HEADER, _TRACERESPONSE)
        status = 500

        async def send_with_cid(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", ()) if h[0].lower() not in ours]
                message = {**message, "headers": [*headers, *added]}
            await send(message)

        token = correlation_id.set(cid)
        trace_token = trace_context.set(trace)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_cid)
        finally:
            correlation_id.reset(token)
            trace_context.reset(trace_token)
            path = getattr(scope.get("route"), "path", "unmatched")
            HTTP_LATENCY.labels(scope["method"], path, status).observe(
                time.perf_counter() - started
            )


def kafka_and_database(app: FastAPI) -> Mapping[str, ReadinessCheck]:
    """The usual readiness: the service's publisher reaches Kafka and its engine the database."""
    return {
        "kafka": app.state.publisher.ready,
        "database": lambda: database_ready(app.state.engine),
    }


def create_service_app(
    *,
    title: str,
    description: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    readiness: Callable[[FastAPI], Mapping[str, ReadinessCheck]] | None = None,
    version: str = "1.0.0",
) -> FastAPI:
    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan)
    install_problem_handlers(app)

    app.add_middleware(CorrelateAndMeasure)

    @app.get("/healthz", tags=["ops"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="Kafka and the database are reachable")
    async def readyz() -> JSONResponse:
        """503 when a dependency is unreachable. A stuck consumer is reported in the body
        (`consumers`, `consumers_stuck`) but keeps 200: the HTTP API still answers, and taking
        the instance out of the load balancer (or restarting it) would not unstick a batch
        whose dependency is down or whose failure needs a person; the clm_consumer_stuck
        gauge pages for that."""
        checks = (readiness or kafka_and_database)(app)
        results = {name: await check() for name, check in checks.items()}
        ok = all(results.values())
        body: dict[str, object] = {"status": "ready" if ok else "not ready", "checks": results}
        groups = consumer_progress.groups()
        if groups:
            body["consumers"] = groups
            body["consumers_stuck"] = sorted(g for g, detail in groups.items() if detail["stuck"])
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
