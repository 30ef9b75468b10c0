"""The OpenAPI document as a contract: one `Problem` schema for every error response (served
as application/problem+json), 401/403/503 on every route that needs a key (the bearer scheme
and the route's scope come from shared.auth.require), and stable operation ids. Routes only
name the problems special to them: `responses=problems(404)`."""

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from shared.problems import PROBLEM_JSON

SECURITY_SCHEME = "bearerAuth"
PROBLEM_REF = "#/components/schemas/Problem"
_DESCRIPTIONS = {
    400: "Malformed request (not JSON, or a cursor this API did not return)",
    401: "Missing, unknown or revoked API key (`WWW-Authenticate: Bearer`)",
    403: "The API key lacks the scope this operation needs",
    404: "Not found",
    409: "Conflict with the current state",
    413: "The body is larger than the limit",
    415: "The body is not application/json",
    422: "Validation failed: `errors` names each invalid field (and, in a batch, its index)",
    503: "A dependency is unavailable; retry after `Retry-After` seconds",
}
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


class FieldError(BaseModel):
    field: str = Field(description="dotted path of the invalid field; `(body)` for the body")
    message: str
    code: str = Field(description="machine-readable reason, e.g. missing, greater_than_equal")
    index: int | None = Field(default=None, description="index of the event in a batch")


class Problem(BaseModel):
    """RFC 9457 problem details, the body of every error response."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "https://clm.example/problems/validation",
                    "title": "Validation failed",
                    "status": 422,
                    "detail": "Invalid fields: data.amount",
                    "instance": "/v1/events",
                    "errors": [
                        {
                            "field": "data.amount",
                            "message": "Input should be greater than or equal to 0",
                            "code": "greater_than_equal",
                        }
                    ],
                }
            ]
        },
    )

    type: str = Field(description="URI naming the kind of problem")
    title: str
    status: int
    detail: str
    instance: str | None = Field(default=None, description="the request path")
    errors: list[FieldError] | None = Field(default=None, description="validation problems only")


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Responses for a route decorator: each status answered with a `Problem`."""
    return {status: {"description": _DESCRIPTIONS.get(status, "Problem")} for status in statuses}


def operation_id(route: APIRoute) -> str:
    """The route function's name (`post_event`, `get_customer`): readable in generated
    clients and stable while the function keeps its name."""
    return route.name


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}


def _document(app: FastAPI) -> dict[str, Any]:
    spec = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
        servers=app.servers,
    )
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION:
        schemas.pop(name, None)
    defs = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(defs.pop("$defs", {}))
    schemas["Problem"] = defs
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            scopes = [s for r in operation.get("security", ()) for s in r.get(SECURITY_SCHEME, ())]
            if scopes:  # declared by shared.auth.require through its Security dependency
                operation["description"] = (
                    f"{operation.get('description', '')}\n\nScope: `{scopes[0]}` (or `admin`)."
                ).strip()
                for status in ("401", "403", "503"):
                    responses.setdefault(status, {})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    _as_problem(int(status), response)
    return spec


def _as_problem(status: int, response: dict[str, Any]) -> None:
    """An error response without a body of its own (or FastAPI's validation body, which this
    API never sends) answers a `Problem`; a route's own description is kept."""
    generic = {HTTPStatus(status).phrase, "Validation Error", "Additional Response", ""}
    if response.get("description", "") in generic:
        response["description"] = _DESCRIPTIONS.get(status, HTTPStatus(status).phrase)
    content = response.get("content")
    if not content or "HTTPValidationError" in str(content):
        response["content"] = _problem_content()


def install_openapi(app: FastAPI, extend: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Builds the app's document with the conventions above, once; `extend` adds a service's
    own parts (e.g. ingest's event schemas)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = _document(app)
            if extend is not None:
                extend(spec)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
