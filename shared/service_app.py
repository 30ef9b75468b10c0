"""The thin shell every service shares: problem handlers, correlation and trace ids, metrics,
health."""

import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import sqlalchemy.exc
from fastapi import FastAPI, Request, Response
from fastapi.routing import iter_route_contexts
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import consumer_progress
from shared.auth import AUTHENTICATED_SCOPES, KeyStore, ScopeCheck, authenticate
from shared.database_outage import database_unavailable, is_database_outage
from shared.db import database_ready
from shared.logging import correlation_id, get_logger, new_trace, parse_traceparent, trace_context
from shared.metrics import HTTP_LATENCY
from shared.openapi import install_openapi, operation_id
from shared.problems import Problem, install_problem_handlers, problem_response

log = get_logger(__name__)

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


def _scope_check_of(route: object) -> ScopeCheck | None:
    dependant = getattr(route, "dependant", None)
    pending = list(dependant.dependencies) if dependant is not None else []
    while pending:
        dependency = pending.pop()
        if isinstance(dependency.call, ScopeCheck):
            return dependency.call
        pending.extend(dependency.dependencies)
    return None


@dataclass(frozen=True)
class _GuardedRoute:
    path: re.Pattern[str]
    methods: frozenset[str]
    check: ScopeCheck | None


class AuthenticateFirst:
    """Checks the API key (401) and its scope (403) of every route that requires one before
    the route reads its body, so that a caller without a key learns nothing from a parser.

    The route's dependency (`shared.auth.require`) declares the scope; this middleware finds
    the route the request will reach (the first whose path and method match, as the router
    does), runs that check and leaves the scopes for the dependency to reuse.
    """

    def __init__(self, app: ASGIApp, service: FastAPI) -> None:
        self.app = app
        self.service = service
        self._routes: list[_GuardedRoute] | None = None

    def _guarded_routes(self) -> list[_GuardedRoute]:
        if self._routes is None:
            self._routes = [
                _GuardedRoute(
                    context.path_regex,
                    frozenset(context.methods or ()),
                    _scope_check_of(context.original_route),
                )
                for context in iter_route_contexts(self.service.routes)
                if context.path_regex is not None
            ]
        return self._routes

    def _check_for(self, scope: Scope) -> ScopeCheck | None:
        path, method = scope["path"], scope["method"]
        for route in self._guarded_routes():
            if route.path.match(path) and (not route.methods or method in route.methods):
                return route.check
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        check = self._check_for(scope) if scope["type"] == "http" else None
        if check is None:
            await self.app(scope, receive, send)
            return
        store: KeyStore = self.service.state.key_store
        try:
            scopes = await authenticate(Headers(scope=scope), store, check.scope)
        except Problem as problem:
            await problem_response(problem, scope["path"])(scope, receive, send)
            return
        scope.setdefault("state", {})[AUTHENTICATED_SCOPES] = scopes
        await self.app(scope, receive, send)


class RefuseEncodedSlashes:
    """404 for a path with an encoded '/' (%2F): the router would decode it into a path
    separator, so `/v1/customers/victim%2Fhistory` would read victim's history. No customer id
    contains '/' (the id grammar), so no resource has such a name."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw: bytes = (scope.get("raw_path") or b"") if scope["type"] == "http" else b""
        if b"%2f" in raw.lower():
            problem = Problem(
                404, "Not found", "No resource name contains '/' (sent encoded as %2F)."
            )
            await problem_response(problem, scope["path"])(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _install_outage_handlers(app: FastAPI) -> None:
    """PostgreSQL unreachable -> 503 + Retry-After (retrying helps); other errors stay 500."""

    async def on_database_error(request: Request, exc: Exception) -> JSONResponse:
        if is_database_outage(exc):
            log.warning("database_unavailable", path=request.url.path, error=repr(exc))
            return problem_response(database_unavailable(), request.url.path)
        log.exception("unhandled_error", path=request.url.path)
        problem = Problem(500, "Internal error", "An unexpected error occurred; it was logged.")
        return problem_response(problem, request.url.path)

    for kind in (
        sqlalchemy.exc.SQLAlchemyError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        OSError,
        TimeoutError,
    ):
        app.add_exception_handler(kind, on_database_error)


def _with_key_listener(
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Runs the service's lifespan, and between its start and stop the key store's listener."""

    @asynccontextmanager
    async def wrapped(app: FastAPI) -> AsyncIterator[None]:
        async with lifespan(app):
            store: KeyStore | None = getattr(app.state, "key_store", None)
            if store is not None:
                store.start()
            try:
                yield
            finally:
                if store is not None:
                    await store.stop()

    return wrapped


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Readiness(BaseModel):
    status: str = Field(description="ready | not ready")
    checks: dict[str, bool] = Field(examples=[{"kafka": True, "database": True}])


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
    openapi_extend: Callable[[dict[str, Any]], None] | None = None,
) -> FastAPI:
    app = FastAPI(
        title=title,
        description=description,
        version=version,
        lifespan=_with_key_listener(lifespan),
        generate_unique_id_function=operation_id,
    )
    install_problem_handlers(app)
    _install_outage_handlers(app)
    install_openapi(app, openapi_extend)

    # Added first, so it runs inside CorrelateAndMeasure: its answers carry the trace headers.
    app.add_middleware(AuthenticateFirst, service=app)
    app.add_middleware(RefuseEncodedSlashes)
    app.add_middleware(CorrelateAndMeasure)

    @app.get("/healthz", tags=["ops"], summary="The process is alive")
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get(
        "/readyz",
        tags=["ops"],
        summary="Kafka and the database are reachable",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "A dependency is unreachable"}},
    )
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

    @app.get(
        "/metrics",
        tags=["ops"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
