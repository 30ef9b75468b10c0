"""Lifecycle HTTP API (CONTRACT.md): customer state, history, lists, stage and transition stats."""

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from services.lifecycle.adapters.erasure import erase
from services.lifecycle.adapters.overview_queries import daily_changes
from services.lifecycle.adapters.tables import customers
from services.lifecycle.domain import Flag, LifecycleRules, Stage, Tier
from services.lifecycle.domain.transitions import parse_history_text
from shared.auth import Scope, require
from shared.contracts import customer_state
from shared.kafka_producer import PublishError
from shared.logging import get_logger
from shared.openapi import problems
from shared.paging import IdCursor, PageLimit
from shared.problems import Problem, customer_not_found

from .report_routes import router as report_router

log = get_logger(__name__)

router = APIRouter(prefix="/v1", tags=["lifecycle"])
router.include_router(report_router)  # GET /v1/reports/overview
CustomersReader = Annotated[frozenset[str], Depends(require(Scope.CUSTOMERS_READ))]


class CustomerState(BaseModel):
    customer_id: str
    stage: Stage
    flags: list[Flag]
    stage_since: datetime | None
    tier: Tier
    first_seen_at: datetime | None
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    purchase_occasions: int
    total_spend: Decimal
    lifecycle_pattern: str | None
    reactivations: int
    trailing_spend: Decimal
    churn_risk: float | None
    as_of: datetime
    next_due_at: datetime | None
    currency: str = Field(
        description="ISO 4217 code of total_spend and trailing_spend: the reporting currency"
    )


class TransitionOut(BaseModel):
    id: str
    kind: str
    from_stage: Stage | None  # None: the entry into acquisition
    to_stage: Stage
    flag: Flag | None
    flag_value: bool | None
    from_tier: Tier | None
    to_tier: Tier | None
    occurred_at: datetime
    reason: str
    cause_event_id: str


class History(BaseModel):
    customer_id: str
    transitions: list[TransitionOut]


class CustomerPage(BaseModel):
    items: list[CustomerState]
    next_cursor: str | None


_STATE_COLUMNS = [customers.c[name] for name in CustomerState.model_fields if name != "currency"]


def _state(request: Request, row: Any) -> dict[str, Any]:
    return {**row._asdict(), "currency": request.app.state.settings.reporting_currency}


def _engine(request: Request) -> Any:
    return request.app.state.engine


def _not_found(customer_id: str) -> Problem:
    return customer_not_found(f"No lifecycle state for customer '{customer_id}'.")


@router.get(
    "/customers/{customer_id}",
    response_model=CustomerState,
    summary="One customer's lifecycle state",
    responses=problems(404),
)
async def get_customer(customer_id: str, request: Request, _: CustomersReader) -> Any:
    async with _engine(request).connect() as conn:
        row = (
            await conn.execute(
                sa.select(*_STATE_COLUMNS).where(customers.c.customer_id == customer_id)
            )
        ).first()
    if row is None:
        raise _not_found(customer_id)
    return _state(request, row)


@router.get(
    "/customers/{customer_id}/history",
    response_model=History,
    summary="Every stage, flag and tier change of a customer, in order",
    responses=problems(404),
)
async def get_history(customer_id: str, request: Request, _: CustomersReader) -> Any:
    async with _engine(request).connect() as conn:
        history = await conn.scalar(
            sa.select(customers.c.history).where(customers.c.customer_id == customer_id)
        )
    if history is None:
        raise _not_found(customer_id)
    return {"customer_id": customer_id, "transitions": parse_history_text(history)}


@router.get("/customers", response_model=CustomerPage, summary="Customers by stage, flag and tier")
async def list_customers(
    request: Request,
    _: CustomersReader,
    stage: Stage | None = None,
    flag: Flag | None = None,
    tier: Tier | None = None,
    limit: PageLimit = 100,
    cursor: IdCursor = None,
) -> Any:
    query = sa.select(*_STATE_COLUMNS).order_by(customers.c.customer_id).limit(limit + 1)
    if stage:
        query = query.where(customers.c.stage == stage.value)
    if tier:
        query = query.where(customers.c.tier == tier.value)
    if flag:
        query = query.where(customers.c.flags.contains([flag.value]))
    if cursor:
        query = query.where(customers.c.customer_id > cursor)
    async with _engine(request).connect() as conn:
        rows = (await conn.execute(query)).all()
    items = [_state(request, r) for r in rows[:limit]]
    return {"items": items, "next_cursor": items[-1]["customer_id"] if len(rows) > limit else None}


@router.get("/stats/stages", response_model=dict[Stage, int], summary="Customers per stage")
async def stage_counts(request: Request, _: CustomersReader) -> Any:
    async with _engine(request).connect() as conn:
        rows = await conn.execute(
            sa.select(customers.c.stage, sa.func.count()).group_by(customers.c.stage)
        )
        counts = {s: 0 for s in Stage}
        counts.update({Stage(stage): n for stage, n in rows})
    return counts


class TransitionCount(BaseModel):
    day: str
    kind: str
    to_stage: Stage
    flag: Flag | None
    count: int


@router.get(
    "/stats/transitions",
    response_model=list[TransitionCount],
    summary="Changes per day, kind and target",
)
async def transition_counts(
    request: Request, _: CustomersReader, days: Annotated[int, Query(ge=1, le=3660)] = 30
) -> Any:
    since = datetime.now(UTC) - timedelta(days=days)
    async with _engine(request).connect() as conn:
        return [asdict(c) for c in await daily_changes(conn, since)]


@router.get("/rules", response_model=LifecycleRules, summary="The rules in force (read-only)")
async def get_rules(request: Request, _: CustomersReader) -> Any:
    return request.app.state.rules


@router.delete(
    "/customers/{customer_id}",
    status_code=204,
    summary="Erase a customer's personal data in every service (GDPR)",
    responses={
        404: {"description": "No service knows the customer, and it was never erased"},
        503: {"description": "Erased, but the tombstone is not yet on Kafka: repeat the call"},
    },
)
async def erase_customer(
    customer_id: Annotated[str, Path(min_length=1, max_length=128)],
    request: Request,
    _: Annotated[frozenset[str], Depends(require(Scope.ADMIN))],
) -> Response:
    """Deletes the customer's lifecycle rows in one transaction (or, with
    CLM_LIFECYCLE_ERASURE_KEEP_AGGREGATES, keeps anonymous aggregates under a pseudonymous id),
    records a keyed hash of the id so that later events and replays are dropped, then publishes
    a tombstone (key = id, null value) on clm.customer-state.v1: scoring and notify erase their
    own data when they read it (eventually, also after being down). Repeating the call for an
    erased id is harmless and publishes the tombstone again."""
    settings = request.app.state.settings
    async with _engine(request).begin() as conn:
        done = await erase(
            conn,
            customer_id,
            settings.erasure_secret,
            keep_aggregates=settings.erasure_keep_aggregates,
        )
    if not done.known:
        raise customer_not_found(f"Lifecycle holds no data of customer '{customer_id}'.")
    log.info("customer_erased", rows=done.rows, repeat=done.already_erased)
    # The outbox cannot carry a tombstone (its value column is NOT NULL), so the tombstone is
    # published here, after the commit. At least once: if the broker does not acknowledge it,
    # the caller gets 503 and repeats the call; the repeat finds the id erased, changes
    # nothing in the database and publishes the tombstone again. Duplicate tombstones are
    # harmless on a compacted topic.
    try:
        key, _value = customer_state.encode_erasure(customer_id)
        await request.app.state.publisher.publish_tombstone(customer_state.TOPIC, key)
    except PublishError as exc:
        raise Problem(
            503,
            "Tombstone not published",
            "The customer's data is erased, but the tombstone could not be published to "
            "clm.customer-state.v1; repeat the request.",
            headers={"Retry-After": "5"},
        ) from exc
    return Response(status_code=204)
