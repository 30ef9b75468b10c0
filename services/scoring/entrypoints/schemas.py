"""Request and response bodies of the scoring API."""

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class FitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: AwareDatetime = Field(description="Only purchases with occurred_at <= as_of count.")
    time_unit: Literal["day", "week", "month"] = "week"


class RetentionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    survivors: Annotated[
        list[Annotated[float, Field(ge=0)]],
        Field(
            min_length=2,
            description="Customers still active at the start of each period, period 0 first; "
            "non-increasing.",
            examples=[[1000, 631, 468, 382, 326, 289, 262, 241]],
        ),
    ]
    discount_rate: Annotated[float, Field(gt=0, lt=10)] | None = None
    projection_periods: Annotated[int, Field(ge=1, le=1000)] = 12


# Response bodies. Times are RFC 3339 strings; model figures are null before any model exists.
TimeUnit = Literal["day", "week", "month"]


class BgNbdParameters(BaseModel):
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    n_customers: int
    converged: bool
    iterations: int


class GammaGammaParameters(BaseModel):
    p: float
    q: float
    gamma: float
    log_likelihood: float
    n_customers: int


class RfmCutPoints(BaseModel):
    recency: list[float]
    frequency: list[float]
    monetary: list[float]


class Rescore(BaseModel):
    status: str = Field(description="pending | running | done | failed")
    customers: int | None
    seconds: float | None


class ModelOut(BaseModel):
    model_id: str
    as_of: str
    time_unit: TimeUnit
    bgnbd: BgNbdParameters
    gamma_gamma: GammaGammaParameters
    rfm_cut_points: RfmCutPoints
    created_at: str
    fit_seconds: float
    extract_seconds: float
    rescore: Rescore


class RetentionOut(BaseModel):
    alpha: float
    beta: float
    log_likelihood: float
    projected_survivors: list[float]
    expected_lifetime: float | None = Field(description="periods; null when infinite")
    expected_lifetime_is_infinite: bool
    discount_rate: float | None = None
    discounted_expected_lifetime: float | None = None


class ForecastOut(BaseModel):
    model_id: str
    as_of: str
    time_unit: TimeUnit
    horizon: float = Field(description="in the model's time_unit")
    n_customers: int
    expected_repeat_purchases: float


class TopCustomer(BaseModel):
    customer_id: str
    clv: float | None
    churn_risk: float | None
    p_alive: float | None
    expected_purchases: float | None
    segment: str | None
    health_score: float | None
    model_id: str | None


class TopCustomers(BaseModel):
    by: str
    items: list[TopCustomer]
    next_cursor: str | None


class SbgParameters(BaseModel):
    alpha: float
    beta: float


class Cohort(BaseModel):
    cohort: str = Field(description="YYYY-MM of the first purchase")
    customers: int
    active: list[int]
    survivors: list[int]
    retention: list[float]
    sbg: SbgParameters | None


class CohortRetention(BaseModel):
    since: str
    cohorts: list[Cohort]


class Rfm(BaseModel):
    recency: int
    frequency: int
    monetary: int
    score: str
    segment: str


class CustomerStatistics(BaseModel):
    purchase_occasions: int
    frequency: int
    recency: float | None
    age: float | None
    monetary: float
    total_spend: float
    complaints: int
    inbound_contacts: int
    satisfaction: float | None


class CustomerScores(BaseModel):
    customer_id: str
    as_of: str
    model_id: str | None
    model_as_of: str | None
    time_unit: TimeUnit | None
    horizon: float | None
    p_alive: float | None
    churn_risk: float | None
    expected_purchases: float | None
    expected_avg_spend: float | None
    clv: float | None
    clv_horizon_months: int
    monthly_discount_rate: float
    rfm: Rfm | None
    health_score: float | None
    historical_value: float
    acquisition_cost: float | None
    ltv_to_cac: float | None
    statistics: CustomerStatistics


class ModelTracking(BaseModel):
    model_id: str
    as_of: str
    time_unit: TimeUnit
    first_purchase: str | None
    n_customers: int
    n_periods: int
    periods_omitted: int
    omitted_actual: int
    omitted_expected: float
    period_start: list[str]
    period_end: list[str]
    actual: list[float]
    expected: list[float]
    cumulative_actual: list[float]
    cumulative_expected: list[float]
    total_actual: float
    total_expected: float
