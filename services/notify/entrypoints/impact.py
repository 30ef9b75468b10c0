"""GET /v1/playbooks/{name}/impact: what a playbook causes, treatment against control.

Formulas, units and currency of every figure are in the field descriptions below and in the
README ("Control groups and measured uplift").
"""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from services.notify.domain import PlaybookBook
from services.notify.service_layer.impact import ImpactQuery, ImpactReader
from shared.auth import Scope, require
from shared.openapi import problems
from shared.problems import Problem

router = APIRouter(prefix="/v1", tags=["notify"])
Reader = Annotated[frozenset[str], Depends(require(Scope.NOTIFY_READ))]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ArmOut(BaseModel):
    eligible: int = Field(
        description="units in this arm: first decisions of the step (the playbook: trigger "
        "occurrences) that counted as eligible; control = suppressed with reason control_group"
    )
    open_windows: int = Field(description="units whose outcome window has not ended yet")
    messages_sent: int = Field(description="messages of these units that went out (control: 0)")
    channel_cost: float = Field(
        description="sum over sent messages of CLM_NOTIFY_CHANNEL_COSTS[channel]; reporting "
        "currency"
    )
    revenue_total: float = Field(
        description="sum of purchase amounts in the windows, converted at each purchase day's "
        "rate; reporting currency"
    )
    revenue_per_customer: float | None = Field(
        description="revenue_total / eligible; reporting currency per unit; null if empty"
    )
    purchase_rate: float | None = Field(description="share of units with a purchase in the window")
    reactivation_rate: float | None = Field(
        description="share of units with a stage change out of churn in the window"
    )
    stage_kept_rate: float | None = Field(
        description="share of units with no stage change in the window"
    )
    opt_out_rate: float | None = Field(
        description="share of units whose customer opted out of a channel in the window"
    )


class IntervalOut(BaseModel):
    estimate: float = Field(description="treatment - control")
    low: float = Field(description="lower bound of the 95 % confidence interval")
    high: float = Field(description="upper bound of the 95 % confidence interval")
    significant: bool = Field(description="the interval excludes 0")


class DifferenceOut(BaseModel):
    purchase: IntervalOut | None = Field(
        description="purchase_rate difference (proportion points, 0..1); Newcombe hybrid "
        "score interval from two Wilson intervals; null when an arm is empty"
    )
    reactivation: IntervalOut | None = Field(description="reactivation_rate difference (Newcombe)")
    stage_kept: IntervalOut | None = Field(description="stage_kept_rate difference (Newcombe)")
    opt_out: IntervalOut | None = Field(description="opt_out_rate difference (Newcombe)")
    revenue_per_customer: IntervalOut | None = Field(
        description="revenue_per_customer difference, reporting currency per unit; Welch t "
        "interval (Welch-Satterthwaite df); null when an arm has fewer than 2 units"
    )


class ComparisonOut(BaseModel):
    arms: dict[str, ArmOut] = Field(description="treatment and control")
    difference: DifferenceOut
    incremental_revenue: float | None = Field(
        description="difference.revenue_per_customer.estimate x treatment.eligible; reporting "
        "currency"
    )
    incremental_revenue_per_message: float | None = Field(
        description="incremental_revenue / treatment.messages_sent; reporting currency per "
        "message; null when nothing was sent"
    )
    incremental_revenue_per_cost_unit: float | None = Field(
        description="incremental_revenue / treatment.channel_cost; reporting currency earned "
        "per unit of reporting currency spent on channels (a return on cost); null at no cost"
    )


class StepImpactOut(ComparisonOut):
    step: str
    channel: str


class ImpactOut(BaseModel):
    playbook: str
    currency: str = Field(description="the reporting currency (CLM_REPORTING_CURRENCY)")
    window_days: float = Field(description="outcomes count in (trigger_at, trigger_at + window]")
    since: datetime = Field(description="triggers from this time on")
    generated_at: datetime
    confidence_level: float = Field(description="0.95")
    control_group: float = Field(description="the playbook's held-out share (playbooks file)")
    unconverted_purchases: int = Field(
        description="purchases with no exchange rate on their day: counted as purchases, "
        "without revenue"
    )
    overall: ComparisonOut = Field(
        description="the playbook as a whole: one unit per trigger occurrence; messages and "
        "cost of every step"
    )
    steps: list[StepImpactOut] = Field(description="per step: one unit per first decision")


@router.get(
    "/playbooks/{name}/impact",
    response_model=ImpactOut,
    summary="A playbook's measured uplift: outcomes per arm, differences with 95 % intervals",
    responses=problems(404, 422),
)
async def playbook_impact(
    name: str,
    request: Request,
    _: Reader,
    window_days: Annotated[
        float | None,
        Query(
            gt=0,
            le=366,
            description="outcome window in days; default CLM_NOTIFY_IMPACT_WINDOW_DAYS",
        ),
    ] = None,
    since: Annotated[
        AwareDatetime | None,
        Query(description="only triggers at or after this time (RFC 3339 with offset)"),
    ] = None,
) -> Any:
    book: PlaybookBook = request.app.state.book
    playbook = book.get(name)
    if playbook is None:
        raise Problem(404, "Playbook not found", f"No playbook named '{name}'.")
    settings = request.app.state.settings
    reader: ImpactReader = request.app.state.impact
    window = timedelta(days=window_days if window_days is not None else settings.impact_window_days)
    query = ImpactQuery(window=window, since=since or _EPOCH, now=settings.now())
    return await reader.impact(playbook, query)
