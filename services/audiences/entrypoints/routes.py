"""Audiences HTTP API: define, describe, count, page, export and delete segments."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from services.audiences.domain.filters import FilterError, parse_filter
from services.audiences.service_layer.segments import (
    MEMBER_COLUMNS,
    SegmentExists,
    SegmentInfo,
    Segments,
)
from shared.auth import Scope, require
from shared.openapi import problems
from shared.paging import IdCursor, PageLimit
from shared.problems import Problem, validation_problem

router = APIRouter(prefix="/v1", tags=["audiences"])
Reader = Annotated[frozenset[str], Depends(require(Scope.SEGMENTS_READ))]
Writer = Annotated[frozenset[str], Depends(require(Scope.SEGMENTS_WRITE))]
NAME_PATTERN = r"^[a-z0-9][a-z0-9_\-]{0,63}$"
SegmentName = Annotated[
    str, Path(pattern=NAME_PATTERN, description="lower-case letters, digits, _ and -")
]
FILTER_DOC = (
    'A filter (README, \'Audiences\'): {"all": [...]}, {"any": [...]}, {"not": {...}} or '
    'a comparison {"field": <field>, <operator>: <value>}, e.g. '
    '{"all": [{"field": "stage", "eq": "churn"}, {"field": "clv_percentile", "gte": 80}, '
    '{"field": "last_purchase_at", "older_than_days": 60}]}'
)


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME_PATTERN, description="lower-case letters, digits, _ and -")
    description: str = Field(default="", max_length=1000)
    filter: dict[str, Any] = Field(description=FILTER_DOC)


class FilterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filter: dict[str, Any] = Field(description=FILTER_DOC)


class SegmentOut(BaseModel):
    name: str
    description: str
    filter: dict[str, Any]
    time_relative: bool = Field(description="membership moves with the clock (purchase windows)")
    uses_percentile: bool = Field(description="membership moves with others' CLV (percentiles)")
    status: Literal["building", "current"] = Field(
        description="building: the first evaluation over every customer is still running"
    )
    members: int
    created_at: datetime
    built_at: datetime | None


class SegmentList(BaseModel):
    items: list[SegmentOut]


class Count(BaseModel):
    count: int


class Member(BaseModel):
    customer_id: str
    entered_at: datetime
    stage: str | None
    tier: str | None
    flags: list[str]
    clv: float | None
    clv_percentile: float | None
    churn_risk: float | None
    p_alive: float | None
    health_score: float | None
    rfm_segment: str | None
    last_purchase_at: datetime | None
    purchase_count: int
    locale: str | None


class MemberPage(BaseModel):
    items: list[Member]
    next_cursor: str | None


def _segments(request: Request) -> Segments:
    segments: Segments = request.app.state.segments
    return segments


def _filter(raw: dict[str, Any]) -> Any:
    try:
        # named like the platform's other body fields (body.<field>)
        return parse_filter(raw, "body.filter")
    except FilterError as exc:
        errors = [
            {"field": i.field, "message": i.message, "code": "invalid_filter"} for i in exc.issues
        ]
        names = ", ".join(i.field for i in exc.issues)
        raise validation_problem(errors, f"Invalid filter: {names}") from exc


def _out(info: SegmentInfo) -> SegmentOut:
    s = info.segment
    return SegmentOut(
        name=s.name,
        description=s.description,
        filter=s.raw_filter,
        time_relative=s.time_relative,
        uses_percentile=s.uses_percentile,
        status="current" if s.built_at else "building",
        members=info.members,
        created_at=s.created_at,
        built_at=s.built_at,
    )


def _not_found(name: str) -> Problem:
    return Problem(404, "Not found", f"No segment named '{name}'.")


@router.post(
    "/segments",
    status_code=201,
    summary="Define a segment",
    responses=problems(401, 403, 409, 422),
)
async def create_segment(body: SegmentIn, request: Request, _: Writer) -> SegmentOut:
    """Stored at once (status `building`); every matching customer then enters, each entry
    published on clm.segment-memberships.v1, and membership is kept current from then on."""
    filter_ = _filter(body.filter)
    try:
        info = await _segments(request).create(body.name, body.description, filter_)
    except SegmentExists as exc:
        raise Problem(409, "Conflict", f"A segment named '{body.name}' exists.") from exc
    return _out(info)


@router.get("/segments", summary="Every segment", responses=problems(401, 403))
async def list_segments(request: Request, _: Reader) -> SegmentList:
    return SegmentList(items=[_out(i) for i in await _segments(request).all()])


@router.post(
    "/segments/count",
    summary="Count the customers a filter matches now",
    responses=problems(401, 403, 422),
)
async def count_filter(body: FilterIn, request: Request, _: Reader) -> Count:
    """Evaluated live over every customer, without defining a segment (a preview)."""
    return Count(count=await _segments(request).count(_filter(body.filter)))


@router.get("/segments/{name}", summary="A segment and its size", responses=problems(401, 403, 404))
async def get_segment(name: SegmentName, request: Request, _: Reader) -> SegmentOut:
    info = await _segments(request).get(name)
    if info is None:
        raise _not_found(name)
    return _out(info)


@router.delete(
    "/segments/{name}",
    status_code=204,
    summary="Delete a segment",
    responses=problems(401, 403, 404),
)
async def delete_segment(name: SegmentName, request: Request, _: Writer) -> Response:
    """Every member exits (published, reason `segment_deleted`), then the segment is gone."""
    if not await _segments(request).delete(name):
        raise _not_found(name)
    return Response(status_code=204)


@router.get(
    "/segments/{name}/members",
    summary="A page of members, in customer id order",
    responses=problems(401, 403, 404, 422),
)
async def segment_members(
    name: SegmentName,
    request: Request,
    _: Reader,
    limit: PageLimit = 100,
    cursor: IdCursor = None,
) -> MemberPage:
    segments = _segments(request)
    if not await segments.exists(name):
        raise _not_found(name)
    rows = await segments.page(name, limit + 1, cursor)
    items = [Member(**r) for r in rows[:limit]]
    return MemberPage(items=items, next_cursor=items[-1].customer_id if len(rows) > limit else None)


_MEDIA = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


@router.get(
    "/segments/{name}/export",
    summary="Every member, streamed as NDJSON or CSV",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
            "description": f"One member per line; columns {', '.join(MEMBER_COLUMNS)} "
            "(CSV: a header line; flags joined by '|')",
        },
        **problems(401, 403, 404, 422),
    },
)
async def export_segment(
    name: SegmentName,
    request: Request,
    _: Reader,
    format: Annotated[Literal["ndjson", "csv"], Query(description="ndjson | csv")] = "ndjson",
) -> StreamingResponse:
    """Streamed from a server-side cursor in customer id order: constant memory whatever the
    segment's size (bench/audiences_export.py: 1,000,000 members)."""
    segments = _segments(request)
    if not await segments.exists(name):
        raise _not_found(name)
    return StreamingResponse(
        segments.export(name, format),
        media_type=_MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="{name}.{format}"'},
    )
