"""HTTP calls to the services, turning transport failures into one-sentence errors."""

from dataclasses import dataclass
from typing import Any

import httpx

from clm_cli.errors import CliError
from clm_cli.settings import CliSettings


@dataclass(frozen=True)
class Reply:
    """What one service said: `ok`, `not_found`, `unreachable`, `refused` (the API key: 401 or
    403) or `error` (with a detail)."""

    service: str
    status: str
    body: Any = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def client(settings: CliSettings, service: str, timeout: float | None = None) -> httpx.AsyncClient:
    key = settings.key()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(
        base_url=settings.service_url(service),
        headers=headers,
        timeout=timeout or settings.http_timeout_seconds,
    )


def problem_detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()[:200] or resp.reason_phrase
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:300]
    return str(body)[:300]


async def fetch(settings: CliSettings, service: str, path: str, **params: Any) -> Reply:
    """GET that never raises: a down service or a 404 is a value to show, not a crash."""
    try:
        async with client(settings, service) as http:
            resp = await http.get(path, params=params or None)
    except httpx.TransportError as exc:
        return Reply(service, "unreachable", detail=_transport(exc))
    if resp.status_code == 200:
        return Reply(service, "ok", resp.json())
    if resp.status_code == 404:
        return Reply(service, "not_found", detail=problem_detail(resp))
    if resp.status_code in (401, 403):
        return Reply(service, "refused", detail=f"HTTP {resp.status_code}: {problem_detail(resp)}")
    return Reply(service, "error", detail=f"HTTP {resp.status_code}: {problem_detail(resp)}")


def unreachable(service: str, settings: CliSettings, exc: httpx.TransportError) -> CliError:
    return CliError(
        f"The {service} service at {settings.service_url(service)} is not reachable "
        f"({_transport(exc)}); start the stack with `clm up`."
    )


def refused(service: str, resp: httpx.Response) -> CliError:
    if resp.status_code in (401, 403):
        return CliError(
            f"The {service} service refused the API key (HTTP {resp.status_code}); "
            "set CLM_API_KEY to a key with the needed scope."
        )
    return CliError(
        f"The {service} service answered HTTP {resp.status_code}: {problem_detail(resp).rstrip('.')}."
    )


def _transport(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return type(exc).__name__
