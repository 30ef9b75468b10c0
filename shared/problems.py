"""RFC 9457 problem details: one exception type and the handlers that render it."""

from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from shared.logging import get_logger

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://clm.example/problems/"
_TYPE_TAGS = {"purchase", "contact", "complaint", "profile", "refund"}

log = get_logger(__name__)


class Problem(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        slug: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.slug = slug or title.lower().replace(" ", "-")
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


def _field_path(loc: Sequence[int | str], skip: int) -> str:
    parts = [str(p) for p in loc[skip:]]
    # Discriminated unions put the event type in the location; callers know it already.
    if parts and parts[0] in _TYPE_TAGS:
        parts = parts[1:]
    return ".".join(parts) or "(body)"


def field_errors(
    raw_errors: Iterable[Any], *, index: int | None = None, skip: int = 0
) -> list[dict[str, Any]]:
    out = []
    for err in raw_errors:
        # An unknown event type is reported on the field that carries it.
        field = "type" if err["type"] == "union_tag_invalid" else _field_path(err["loc"], skip)
        item: dict[str, Any] = {
            "field": field,
            "message": err["msg"],
            "code": err["type"],
        }
        if index is not None:
            item["index"] = index
        out.append(item)
    return out


def customer_not_found(detail: str) -> Problem:
    """404 for a customer id the service holds nothing of (`detail` says which service)."""
    return Problem(404, "Customer not found", detail)


def validation_problem(errors: list[dict[str, Any]], detail: str) -> Problem:
    return Problem(422, "Validation failed", detail, slug="validation", errors=errors)


def _render(request: Request, problem: Problem) -> JSONResponse:
    return problem_response(problem, str(request.url.path))


def problem_response(problem: Problem, path: str) -> JSONResponse:
    """The problem as an application/problem+json response; `path` becomes its instance."""
    return JSONResponse(
        problem.body(path),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return _render(request, exc)

    async def on_request_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError | ValidationError)
        errors = field_errors(exc.errors())
        names = ", ".join(e["field"] for e in errors)
        return _render(request, validation_problem(errors, f"Invalid fields: {names}"))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        problem = Problem(exc.status_code, title, str(exc.detail), headers=dict(exc.headers or {}))
        return _render(request, problem)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        problem = Problem(500, "Internal error", "An unexpected error occurred; it was logged.")
        return _render(request, problem)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(ValidationError, on_request_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
