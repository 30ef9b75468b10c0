"""HTTP API of the scoring service (CONTRACT.md "Scoring service")."""

from datetime import UTC, date, datetime
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request, Response

from services.scoring.adapters import model_store
from services.scoring.domain import sbg
from services.scoring.domain.errors import FitError
from services.scoring.entrypoints import queries
from services.scoring.entrypoints.schemas import (
    CohortRetention,
    CustomerScores,
    FitRequest,
    ForecastOut,
    ModelOut,
    RetentionOut,
    RetentionRequest,
    TopCustomers,
)
from services.scoring.service_layer.fitting import FitFailed
from services.scoring.service_layer.service import ScoringService
from shared.auth import Scope, require
from shared.openapi import problems
from shared.paging import PageLimit
from shared.problems import Problem

router = APIRouter(prefix="/v1")

ScoresReader = Annotated[frozenset[str], Depends(require(Scope.SCORES_READ))]
ModelsWriter = Annotated[frozenset[str], Depends(require(Scope.MODELS_WRITE))]


def _service(request: Request) -> ScoringService:
    service: ScoringService = request.app.state.scoring
    return service


Service = Annotated[ScoringService, Depends(_service)]


def _described(model: Any, service: ScoringService) -> dict[str, Any]:
    # Gamma-Gamma's gamma and the spend it predicts are in the reporting currency.
    return {**model.describe(), "currency": service.settings.reporting_currency}


# Routes that build dicts document their body as a model (responses=...) without validating
# every answer again (response_model=None); tests/integration/test_generated_clients.py
# parses real answers with a client generated from the document.


def _no_model() -> Problem:
    return Problem(
        404, "No model", "No model has been fitted yet; POST /v1/models/fit.", slug="no-model"
    )


@router.post(
    "/models/fit",
    status_code=201,
    tags=["models"],
    summary="Fit and make current",
    response_model=None,
    responses={201: {"model": ModelOut}, **problems(422)},
)
async def fit_model(
    body: FitRequest, service: Service, response: Response, _: ModelsWriter
) -> dict[str, Any]:
    """Fits BG/NBD and Gamma-Gamma on every customer's purchases up to `as_of`, stores the
    versioned model and makes it current. Every customer is then rescored in the background;
    `rescore.status` (here and on GET /v1/models/{model_id}) tells when that is done."""
    try:
        model = await service.fit(body.as_of, body.time_unit)
    except FitFailed as exc:
        raise Problem(
            422,
            "Model cannot be fitted",
            f"{exc} ({exc.n_customers} customers with purchases up to {body.as_of.isoformat()},"
            f" {exc.n_repeaters} with repeat purchases); the previous model stays current.",
            slug="fit-failed",
            extra={"n_customers": exc.n_customers, "n_repeaters": exc.n_repeaters},
        ) from exc
    service.rescore_in_background(model)
    response.headers["Location"] = f"/v1/models/{model.model_id}"
    return _described(model, service)


@router.get(
    "/models/current",
    tags=["models"],
    summary="The current model",
    response_model=None,
    responses={200: {"model": ModelOut}, **problems(404)},
)
async def current_model(service: Service, _: ScoresReader) -> dict[str, Any]:
    model = await service.current_model(max_age=0)
    if model is None:
        raise _no_model()
    return _described(model, service)


@router.get(
    "/models/{model_id}",
    tags=["models"],
    summary="One fitted model",
    response_model=None,
    responses={200: {"model": ModelOut}, **problems(404)},
)
async def get_model(model_id: str, service: Service, _: ScoresReader) -> dict[str, Any]:
    async with service.engine.connect() as conn:
        model = await model_store.get(conn, model_id)
    if model is None:
        raise Problem(404, "Not found", f"No model {model_id!r}.", slug="model-not-found")
    return _described(model, service)


@router.post(
    "/models/retention",
    tags=["models"],
    summary="Shifted-beta-geometric retention",
    response_model=None,
    responses={200: {"model": RetentionOut}, **problems(422)},
)
async def retention(body: RetentionRequest, _: ScoresReader) -> dict[str, Any]:
    """Fits sBG (Fader & Hardie 2007) to a contractual survivor series and projects it."""
    survivors = np.asarray(body.survivors)
    if survivors[0] <= 0 or np.any(np.diff(survivors) > 0):
        raise _bad_survivors("must start above 0 and never increase")
    try:
        params = sbg.fit(body.survivors)
    except FitError as exc:
        raise _bad_survivors(str(exc)) from exc
    periods = len(body.survivors) - 1 + body.projection_periods
    lifetime = sbg.expected_lifetime(params)
    result: dict[str, Any] = {
        "alpha": params.alpha,
        "beta": params.beta,
        "log_likelihood": params.log_likelihood,
        "projected_survivors": sbg.projected_survivors(
            params, periods, float(survivors[0])
        ).tolist(),
        "expected_lifetime": None if np.isinf(lifetime) else lifetime,
        "expected_lifetime_is_infinite": bool(np.isinf(lifetime)),
    }
    if body.discount_rate is not None:
        result["discount_rate"] = body.discount_rate
        result["discounted_expected_lifetime"] = sbg.discounted_expected_lifetime(
            params, body.discount_rate
        )
    return result


def _bad_survivors(message: str) -> Problem:
    return Problem(
        422,
        "Validation failed",
        f"survivors: {message}",
        slug="validation",
        errors=[{"field": "survivors", "message": message, "code": "invalid_series"}],
    )


@router.get(
    "/forecast",
    tags=["scores"],
    summary="Expected repeat purchases, population",
    response_model=None,
    responses={200: {"model": ForecastOut}, **problems(404)},
)
async def forecast(
    service: Service, _: ScoresReader, horizon: Annotated[float, Query(gt=0, le=10_000)]
) -> dict[str, Any]:
    """Sum over the fitted population of E[X(T, T+horizon]] after the current model's as_of,
    `horizon` in the model's time_unit."""
    result = await service.forecast(horizon)
    if result is None:
        raise _no_model()
    return result


@router.get(
    "/customers/top",
    tags=["scores"],
    summary="Customers ranked by CLV or churn risk",
    response_model=None,
    responses={200: {"model": TopCustomers}},
)
async def top_customers(
    service: Service,
    _: ScoresReader,
    by: Annotated[queries.TopBy, Query()] = "clv",
    limit: PageLimit = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    try:
        after = queries.decode_cursor(cursor) if cursor else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(
            422,
            "Validation failed",
            "cursor is not a cursor this API returned",
            slug="validation",
            errors=[{"field": "cursor", "message": "invalid cursor", "code": "invalid"}],
        ) from exc
    async with service.engine.connect() as conn:
        items = await queries.top_customers(conn, by, limit + 1, after)
    more = len(items) > limit
    items = items[:limit]
    last = items[-1] if more else None
    return {
        "by": by,
        "currency": service.settings.reporting_currency,  # of clv
        "items": items,
        "next_cursor": queries.encode_cursor(last[by], last["customer_id"]) if last else None,
    }


@router.get(
    "/cohorts/retention",
    tags=["scores"],
    summary="Retention by first-purchase month",
    response_model=None,
    responses={200: {"model": CohortRetention}},
)
async def cohort_retention(
    service: Service, _: ScoresReader, since: date | None = None
) -> dict[str, Any]:
    """Cohorts by the month of the first purchase. `active[k]`: customers with a purchase in
    month k after the first; `survivors[k]`: customers whose last purchase is in month k or
    later (still active at the start of month k, as far as the data tells); `sbg`: the
    shifted-beta-geometric fit to survivors when there are at least three months."""
    since = since or date(datetime.now(UTC).year - 2, 1, 1)
    async with service.engine.connect() as conn:
        rows = await queries.cohort_rows(conn, since)
    today = datetime.now(UTC).date()
    cohorts: dict[date, dict[str, Any]] = {}
    for row in rows:
        month = row["month"]
        periods = (today.year - month.year) * 12 + today.month - month.month + 1
        entry = cohorts.setdefault(
            month, {"active": [0] * periods, "last": [0] * periods, "periods": periods}
        )
        if 0 <= row["period"] < periods:
            entry[row["kind"]][row["period"]] += row["customers"]
    out = []
    for month, entry in sorted(cohorts.items()):
        survivors = np.cumsum(entry["last"][::-1])[::-1].tolist()
        fitted = None
        if len(survivors) >= 3 and survivors[-1] < survivors[0]:
            try:
                params = sbg.fit(survivors)
                fitted = {"alpha": params.alpha, "beta": params.beta}
            except FitError:
                fitted = None
        out.append(
            {
                "cohort": month.strftime("%Y-%m"),
                "customers": survivors[0],
                "active": entry["active"],
                "survivors": survivors,
                "retention": [s / survivors[0] for s in survivors] if survivors[0] else [],
                "sbg": fitted,
            }
        )
    return {"since": since.isoformat(), "cohorts": out}


@router.get(
    "/customers/{customer_id}/scores",
    tags=["scores"],
    summary="One customer's scores",
    response_model=None,
    responses={200: {"model": CustomerScores}, **problems(404)},
)
async def customer_scores(
    customer_id: str,
    service: Service,
    _: ScoresReader,
    as_of: datetime | None = None,
    horizon: Annotated[float | None, Query(gt=0, le=10_000)] = None,
) -> dict[str, Any]:
    """Scores from the customer's purchases and signals up to `as_of` (default now) with the
    current model; `horizon` (model time units; default 90 days) applies to `churn_risk` and
    `expected_purchases`. Before any model exists the model fields are null and only the
    model-free figures (historical value, statistics, health from complaints) are given."""
    if as_of is not None and as_of.tzinfo is None:
        raise Problem(
            422,
            "Validation failed",
            "as_of needs a UTC offset",
            slug="validation",
            errors=[{"field": "as_of", "message": "needs a UTC offset", "code": "timezone"}],
        )
    result = await service.customer(customer_id, as_of, horizon)
    if result is None:
        raise Problem(
            404, "Not found", f"No events for customer {customer_id!r}.", slug="customer-not-found"
        )
    return result
