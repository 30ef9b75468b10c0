"""Every route of every service authenticates before it reads the body: no key and a
malformed body give 401, a key without the route's scope gives 403, never 400 or 422.

The apps run in process without their lifespan (nothing is started): no route is reached
unless its authentication passes, and a stand-in key store answers for the keys.
"""

import re
from importlib import import_module

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from shared.auth import hash_key

SERVICES = ["ingest", "lifecycle", "scoring", "notify", "audiences"]
# Routes open to anyone: probes, metrics, the API documentation and the dashboard's page (its
# data comes from /v1/dashboard/summary, which needs a key).
PUBLIC = {
    "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect",
    "/redoc", "/dashboard", "/dashboard/plotly.min.js",
    "/v1/unsubscribe/{token}",  # an email's one-click link: its signed token is the authority
}  # fmt: skip
NO_SCOPES_KEY = "clm_test_no_scopes"


class _StandInKeys:
    """Knows one key, which has no scope at all."""

    async def scopes_for(self, key: str) -> frozenset[str] | None:
        return frozenset() if hash_key(key) == hash_key(NO_SCOPES_KEY) else None


def _app(service: str) -> FastAPI:
    app: FastAPI = import_module(f"services.{service}.app").app
    app.state.key_store = _StandInKeys()
    return app


def _routes(service: str) -> list[tuple[str, str]]:
    found = []
    for context in iter_route_contexts(_app(service).routes):
        path = context.path
        if path is None or path in PUBLIC:
            continue
        for method in sorted(context.methods or ()):
            if method != "HEAD":
                found.append((method, re.sub(r"\{[^}]+\}", "c-1", path)))
    return found


ROUTES = [(service, *route) for service in SERVICES for route in _routes(service)]


def test_the_routes_that_used_to_parse_first_are_covered() -> None:
    covered = {(s, m, p) for s, m, p in ROUTES}
    assert ("scoring", "POST", "/v1/models/fit") in covered
    assert ("scoring", "POST", "/v1/models/retention") in covered
    assert ("notify", "PUT", "/v1/customers/c-1/preferences") in covered
    assert ("ingest", "POST", "/v1/events/batch") in covered


@pytest.mark.parametrize(("service", "method", "path"), ROUTES)
async def test_no_key_and_a_malformed_body_gives_401(service: str, method: str, path: str) -> None:
    transport = httpx.ASGITransport(app=_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        resp = await client.request(
            method, path, content=b"{bad", headers={"content-type": "application/json"}
        )
    assert resp.status_code == 401, resp.text
    assert resp.headers["www-authenticate"] == "Bearer"
    assert resp.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(("service", "method", "path"), ROUTES)
async def test_a_key_without_the_scope_and_a_malformed_body_gives_403(
    service: str, method: str, path: str
) -> None:
    transport = httpx.ASGITransport(app=_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        resp = await client.request(
            method,
            path,
            content=b"{bad",
            headers={
                "content-type": "application/json",
                "authorization": f"Bearer {NO_SCOPES_KEY}",
            },
        )
    assert resp.status_code == 403, resp.text
