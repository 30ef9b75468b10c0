"""POST /v1/events and /v1/events/batch (CONTRACT.md)."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, TypeAdapter, ValidationError

from shared.auth import Scope, require
from shared.event_limits import CONTEXT_MAX_FUTURE_SKEW, CONTEXT_RECEIVED_AT
from shared.events import CustomerEvent, customer_event_adapter
from shared.kafka_producer import PublishError
from shared.openapi import problems
from shared.problems import Problem, field_errors, validation_problem

from .examples import openapi_batch_example, openapi_examples
from .money import CurrencyCheck
from .publishing import EventPublishing
from .settings import IngestSettings

router = APIRouter(prefix="/v1/events", tags=["events"])
EventsWriter = Annotated[frozenset[str], Depends(require(Scope.EVENTS_WRITE))]
_event_list: TypeAdapter[list[CustomerEvent]] = TypeAdapter(list[CustomerEvent])


class Accepted(BaseModel):
    """No `duplicates`: whether an id was seen before is known only per worker process, so
    the answer could not be true across workers (consumers deduplicate by event_id anyway)."""

    accepted: int
    event_ids: list[str]


class BatchBody(BaseModel):
    events: list[CustomerEvent]


def _accepted(event_ids: list[str]) -> Response:
    """The 202 body of `Accepted`, serialised directly (no response-model round trip per id)."""
    body = {"accepted": len(event_ids), "event_ids": event_ids}
    return Response(orjson.dumps(body), status_code=202, media_type="application/json")


def _publishing(request: Request) -> EventPublishing:
    publishing: EventPublishing = request.app.state.publishing
    return publishing


def _currency_check(request: Request) -> CurrencyCheck:
    check: CurrencyCheck = request.app.state.currency_check
    return check


def _settings(request: Request) -> IngestSettings:
    settings: IngestSettings = request.app.state.settings
    return settings


async def _json_body(request: Request, limit: int) -> Any:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise Problem(
            415, "Unsupported media type", "Send the body as application/json.", slug="media-type"
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(f"The body is {declared} bytes; the limit is {limit}.")
    body = await request.body()
    if len(body) > limit:
        raise _too_large(f"The body is {len(body)} bytes; the limit is {limit}.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Problem(400, "Malformed JSON", f"The body is not valid JSON: {exc}.") from exc


def _validation_context(settings: IngestSettings) -> dict[str, Any]:
    """The receiving clock, so that events dated beyond the allowed skew are refused."""
    return {
        CONTEXT_RECEIVED_AT: datetime.now(UTC),
        CONTEXT_MAX_FUTURE_SKEW: timedelta(seconds=settings.max_future_skew_seconds),
    }


def _too_large(detail: str) -> Problem:
    return Problem(413, "Payload too large", detail, slug="too-large")


def _unavailable(settings: IngestSettings, exc: PublishError) -> Problem:
    return Problem(
        503,
        "Event log unavailable",
        f"The events could not be made durable on Kafka ({exc}); nothing was accepted. Retry.",
        slug="unavailable",
        headers={"Retry-After": str(settings.retry_after_seconds)},
    )


_body_docs = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/CustomerEvent"},
                "examples": openapi_examples(),
            }
        },
    }
}
_batch_docs = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/BatchBody"},
                "examples": openapi_batch_example(),
            }
        },
    }
}


@router.post(
    "",
    status_code=202,
    response_model=Accepted,
    summary="Accept one customer event",
    openapi_extra=_body_docs,
    responses=problems(400, 413, 415, 422, 503),
)
async def post_event(request: Request, _: EventsWriter) -> Response:
    settings, publishing = _settings(request), _publishing(request)
    payload = await _json_body(request, settings.max_event_bytes)
    try:
        event = customer_event_adapter.validate_python(
            payload, context=_validation_context(settings)
        )
    except ValidationError as exc:
        errors = field_errors(exc.errors())
        names = ", ".join(e["field"] for e in errors)
        raise validation_problem(errors, f"Invalid fields: {names}") from exc
    await _currency_check(request).refuse_unconvertible([event])
    if not publishing.fresh([event]):
        return _accepted([event.event_id])
    try:
        await publishing.publish_one(event)
    except PublishError as exc:
        raise _unavailable(settings, exc) from exc
    return _accepted([event.event_id])


@router.post(
    "/batch",
    status_code=202,
    response_model=Accepted,
    summary="Accept up to 1,000 events, all or nothing",
    openapi_extra=_batch_docs,
    responses=problems(400, 413, 415, 422, 503),
)
async def post_batch(request: Request, _: EventsWriter) -> Response:
    settings, publishing = _settings(request), _publishing(request)
    payload = await _json_body(request, settings.max_batch_bytes)
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        errors = [{"field": "events", "message": "must be a list of events", "code": "list_type"}]
        raise validation_problem(errors, 'The body must be {"events": [...]}.')
    raw_events = payload["events"]
    if len(raw_events) > settings.max_batch_events:
        raise _too_large(
            f"The batch has {len(raw_events)} events; the limit is {settings.max_batch_events}."
        )
    extra = set(payload) - {"events"}
    if extra:
        errors = [
            {"field": k, "message": "unknown field", "code": "extra_forbidden"} for k in extra
        ]
        raise validation_problem(errors, "Unknown top-level fields.")
    try:
        events = _event_list.validate_python(raw_events, context=_validation_context(settings))
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            index = int(err["loc"][0])
            errors += field_errors([err], index=index, skip=1)
        indexes = sorted({e["index"] for e in errors})
        raise validation_problem(
            errors, f"{len(indexes)} invalid event(s) at index {indexes}; nothing was accepted."
        ) from exc
    await _currency_check(request).refuse_unconvertible(events, batch=True)
    fresh = publishing.fresh(events)
    if fresh:
        try:
            await publishing.publish_batch(fresh)
        except PublishError as exc:
            raise _unavailable(settings, exc) from exc
    return _accepted([e.event_id for e in events])
