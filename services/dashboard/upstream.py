"""How the dashboard reads the other services: their HTTP APIs, with the caller's own key.

A service that is down, too old to have an endpoint, or refuses the key raises Unavailable;
the summary turns that into a section with `available: false` and a `detail`, never a 500.
"""

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi import Request

from shared.logging import get_logger

from .settings import DashboardSettings

log = get_logger(__name__)


class Unavailable(Exception):
    """An upstream service cannot answer this section (down, no such endpoint, key refused)."""


async def get_json(
    client: httpx.AsyncClient,
    path: str,
    params: dict[str, Any] | None = None,
    *,
    absent_slug: str | None = None,
) -> Any:
    """GET a JSON answer. A 404 problem whose type ends with `absent_slug` gives None (the
    thing asked for does not exist); every other failure raises Unavailable."""
    try:
        resp = await client.get(path, params=params)
    except httpx.HTTPError as exc:
        raise Unavailable(f"unreachable ({type(exc).__name__})") from exc
    if resp.status_code == 200:
        try:
            return resp.json()
        except ValueError as exc:
            raise Unavailable(f"{path} did not answer JSON") from exc
    if resp.status_code == 404 and absent_slug:
        try:
            problem_type = str(resp.json().get("type", ""))
        except (ValueError, AttributeError):
            problem_type = ""
        if problem_type.endswith(absent_slug):
            return None
    if resp.status_code in (401, 403):
        raise Unavailable(f"the API key was refused ({resp.status_code}) for {path}")
    raise Unavailable(f"HTTP {resp.status_code} from {path}")


def client_for(base_url: str, request: Request, settings: DashboardSettings) -> httpx.AsyncClient:
    """A client of one service that sends the caller's bearer key: a key sees on the page
    exactly what it may read through the APIs."""
    headers = {"Authorization": request.headers.get("authorization", "")}
    return httpx.AsyncClient(
        base_url=base_url, headers=headers, timeout=settings.upstream_timeout_seconds
    )


async def section(name: str, build: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    try:
        return {"available": True, "detail": None, **await build()}
    except Unavailable as exc:
        log.warning("dashboard_section_unavailable", section=name, detail=str(exc))
        return {"available": False, "detail": f"{name} unavailable: {exc}"}
