"""Lifecycle's aggregate reads for internal apps (the operator dashboard): GET /v1/reports/*."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from services.lifecycle.adapters.overview_queries import customer_groups, daily_changes
from services.lifecycle.domain import Flag, LifecyclePattern, Stage, Tier
from services.lifecycle.domain.overview import NO_PATTERN, overview
from shared.auth import Scope, require

router = APIRouter(tags=["lifecycle"])
CustomersReader = Annotated[frozenset[str], Depends(require(Scope.CUSTOMERS_READ))]


class AtRisk(BaseModel):
    customers: int = Field(description="customers flagged at_risk now (count)")
    share: float | None = Field(
        description="at_risk.customers / customers, a fraction in [0, 1]; null with no customers"
    )


class DailyChangeCount(BaseModel):
    day: str = Field(description="UTC calendar day, YYYY-MM-DD")
    kind: str = Field(description="stage, flag or tier")
    to_stage: Stage
    flag: Flag | None
    count: int = Field(description="changes of this kind and target on that day (count)")


class RecentChanges(BaseModel):
    days: int = Field(description="the window: changes whose occurred_at is in the last N days")
    items: list[DailyChangeCount]


class Overview(BaseModel):
    """Counts of customers and of changes; no money. Each of stages and tiers sums to
    `customers`; so does patterns, where `none` counts the customers never churned."""

    as_of: datetime = Field(description="when the counts were read (UTC)")
    customers: int = Field(description="customers with a lifecycle state (count)")
    stages: dict[Stage, int] = Field(description="customers per current stage (count)")
    tiers: dict[Tier, int] = Field(description="customers per current tier (count)")
    patterns: dict[str, int] = Field(
        description=f"customers per lifecycle pattern ({', '.join(LifecyclePattern)}), "
        f"'{NO_PATTERN}' for those never churned (count)"
    )
    at_risk: AtRisk
    transitions: RecentChanges


@router.get(
    "/reports/overview",
    response_model=Overview,
    summary="Customers per stage, tier and pattern, the at-risk count and changes per day",
)
async def get_overview(
    request: Request,
    _: CustomersReader,
    days: Annotated[
        int, Query(ge=1, le=3660, description="changes per day over the last N days")
    ] = 30,
) -> Any:
    """All counts from one snapshot of the database (a repeatable-read transaction), so the
    sections agree with each other."""
    now = datetime.now(UTC)
    engine = request.app.state.engine
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            groups = await customer_groups(conn)
            changes = await daily_changes(conn, now - timedelta(days=days))
    return overview(groups, changes, days, now)
