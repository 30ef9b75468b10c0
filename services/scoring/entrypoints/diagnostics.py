"""Model fit diagnostics over HTTP: the current model's tracking of repeat purchases."""

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter

from services.scoring.adapters import statistics as sql
from services.scoring.domain import tracking
from services.scoring.domain.summary import days_per_unit
from services.scoring.entrypoints.routes import ScoresReader, Service
from services.scoring.entrypoints.schemas import ModelTracking
from shared.openapi import problems
from shared.problems import Problem

router = APIRouter(prefix="/v1")

# Occasions up to :as_of (an occasion on its day counts once its first order came before it,
# as in the fit's extraction), numbered per customer in day order: the first is the customer's
# first purchase (its cohort), the others are repeat occasions. One scan of the primary key.
_PER_DAY = """
    SELECT day - DATE '1970-01-01' AS day,
           count(*) FILTER (WHERE n = 1)::bigint AS first,
           count(*) FILTER (WHERE n > 1)::bigint AS repeat
    FROM (
        SELECT day, row_number() OVER (PARTITION BY customer_id ORDER BY day) AS n
        FROM scoring_occasions
        WHERE day < :day OR (day = :day AND first_at <= :as_of)
    ) AS numbered
    GROUP BY day
"""


def _iso(day: int) -> str:
    return (sql.EPOCH + timedelta(days=int(day))).isoformat()


@router.get(
    "/models/current/tracking",
    tags=["models"],
    summary="Predicted vs actual repeat purchases per period",
    response_model=None,
    responses={200: {"model": ModelTracking}, **problems(404)},
)
async def current_model_tracking(service: Service, _: ScoresReader) -> dict[str, Any]:
    """The BG/NBD tracking plot of the current model (Fader, Hardie & Lee 2005, fig. 2): per
    period of the model's `time_unit` from the earliest first purchase to its `as_of`, the
    actual repeat purchase occasions (calendar days after each customer's first) and the
    model's expected repeat purchases, sum over customers of E[X(t − first purchase)]
    differenced between period ends; with cumulative series from the earliest first purchase.
    Period k covers the days after `period_start[k] − 1` up to `period_end[k]`. At most 104
    periods: the last ones, `periods_omitted` earlier ones are left out of the per-period
    series but counted in the cumulative ones (`omitted_actual`, `omitted_expected`)."""
    model = await service.current_model(max_age=0)
    if model is None:
        raise Problem(
            404, "No model", "No model has been fitted yet; POST /v1/models/fit.", slug="no-model"
        )
    calendar = service.settings.business_calendar
    params = sql.time_params(model.as_of, 0.0, calendar)
    async with service.engine.connect() as conn:
        rows = (
            await conn.execute(sa.text(_PER_DAY), {"day": params["day"], "as_of": params["as_of"]})
        ).all()
    days = [int(r.day) for r in rows]
    result = tracking.track(
        model.bgnbd,
        days,
        [int(r.first) for r in rows],
        days,
        [int(r.repeat) for r in rows],
        sql.day_number(model.as_of, calendar),
        days_per_unit(model.time_unit),
    )
    shown = len(result.actual)
    omitted_actual = int(result.cumulative_actual[0] - result.actual[0]) if shown else 0
    omitted_expected = float(result.cumulative_expected[0] - result.expected[0]) if shown else 0.0
    origin = None if result.origin_day is None else _iso(result.origin_day)
    return {
        "model_id": model.model_id,
        "as_of": model.as_of.isoformat(),
        "time_unit": model.time_unit,
        "first_purchase": origin,
        "n_customers": result.n_customers,
        "n_periods": result.n_periods,
        "periods_omitted": result.periods_omitted,
        "omitted_actual": omitted_actual,
        "omitted_expected": omitted_expected,
        "period_start": [_iso(d) for d in result.first_day],
        "period_end": [_iso(d) for d in result.last_day],
        "actual": result.actual.tolist(),
        "expected": result.expected.tolist(),
        "cumulative_actual": result.cumulative_actual.tolist(),
        "cumulative_expected": result.cumulative_expected.tolist(),
        "total_actual": result.total_actual,
        "total_expected": result.total_expected,
    }
