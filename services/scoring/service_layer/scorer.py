"""Scores for many customers at once from their statistics and the current model (pure).

Customers sharing (x, t_x, T) are scored once (summary.collapse): the closed forms, above
all the 2F1 in the discounted CLV, then cost per unique row, not per customer.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.scoring.domain import bgnbd, churn_risk, clv, gamma_gamma, health, rfm
from services.scoring.domain.parameters import ScoringParameters
from services.scoring.domain.summary import collapse, days_per_unit
from services.scoring.service_layer.model import ScoringModel

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Statistics:
    """Per customer, as of one calendar day; days are days since 1970-01-01."""

    occasions: IntArray
    first_day: IntArray
    last_day: IntArray
    total_spend: FloatArray
    first_amount: FloatArray
    as_of_day: int
    complaints: FloatArray
    contacts: FloatArray
    satisfaction: FloatArray  # NaN where unknown
    nps: FloatArray | None = None  # the latest 0..10 answer; NaN where unknown
    first_seen_day: IntArray | None = None  # first event of any kind

    def __len__(self) -> int:
        return len(self.occasions)

    @property
    def purchasers(self) -> npt.NDArray[np.bool_]:
        return self.occasions > 0

    @property
    def frequency(self) -> IntArray:
        return np.maximum(self.occasions - 1, 0)

    def recency(self, time_unit: str) -> FloatArray:
        return np.where(self.purchasers, self.last_day - self.first_day, 0) / days_per_unit(
            time_unit
        )

    def age(self, time_unit: str) -> FloatArray:
        return np.where(self.purchasers, self.as_of_day - self.first_day, 0) / days_per_unit(
            time_unit
        )

    def latest_nps(self) -> FloatArray:
        return np.full(len(self), np.nan) if self.nps is None else self.nps

    def prospect_retention(self, window_days: float) -> FloatArray:
        """Retention of those who never bought (NaN for buyers and unknown first sight)."""
        if self.first_seen_day is None:
            return np.full(len(self), np.nan)
        kept = health.prospect_retention(self.as_of_day - self.first_seen_day, window_days)
        return np.where(self.purchasers, np.nan, kept)

    @property
    def monetary(self) -> FloatArray:
        x = self.frequency
        repeat_spend = self.total_spend - self.first_amount
        return np.divide(repeat_spend, x, out=np.zeros(len(x)), where=x > 0)


@dataclass(frozen=True)
class Scores:
    frequency: IntArray
    recency: FloatArray
    age: FloatArray
    monetary: FloatArray
    horizon: float | None
    p_alive: FloatArray
    churn_risk: FloatArray
    expected_purchases: FloatArray
    expected_avg_spend: FloatArray
    clv: FloatArray
    rfm_recency: IntArray | None
    rfm_frequency: IntArray | None
    rfm_monetary: IntArray | None
    segment: npt.NDArray[np.str_] | None
    health_score: FloatArray


def _nan(n: int) -> FloatArray:
    return np.full(n, np.nan)


def score(
    stats: Statistics,
    model: ScoringModel | None,
    parameters: ScoringParameters,
    horizon: float | None = None,
) -> Scores:
    """``horizon`` (model time units) applies to churn_risk and expected_purchases; by
    default the churn-risk settings' horizon_days converted to the model's unit."""
    n = len(stats)
    satisfaction = np.where(np.isnan(stats.satisfaction), np.nan, stats.satisfaction)
    if model is None:
        unit = parameters.time_unit
        return Scores(
            frequency=stats.frequency,
            recency=stats.recency(unit),
            age=stats.age(unit),
            monetary=stats.monetary,
            horizon=None,
            p_alive=_nan(n),
            churn_risk=_nan(n),
            expected_purchases=_nan(n),
            expected_avg_spend=_nan(n),
            clv=_nan(n),
            rfm_recency=None,
            rfm_frequency=None,
            rfm_monetary=None,
            segment=None,
            health_score=health.health_score(
                complaints=stats.complaints,
                satisfaction=satisfaction,
                nps=stats.latest_nps(),
                weights=parameters.health,
                retention=stats.prospect_retention(parameters.health.prospect_window_days),
            ),
        )
    unit = model.time_unit
    if horizon is None:
        horizon = churn_risk.horizon_in_units(parameters.churn_risk.horizon_days, unit)
    x, t_x, big_t = stats.frequency, stats.recency(unit), stats.age(unit)
    unique = collapse(x, t_x, big_t)
    ux, ut, ubig = unique.frequency, unique.recency, unique.age
    inverse = unique.inverse
    alive = bgnbd.p_alive(model.bgnbd, ux, ut, ubig)[inverse]
    expected = bgnbd.expected_purchases(model.bgnbd, horizon, ux, ut, ubig)[inverse]
    quiet = bgnbd.prob_no_purchase(model.bgnbd, horizon, ux, ut, ubig)[inverse]
    discounted_purchases = clv.discounted_clv(
        model.bgnbd, ux, ut, ubig, np.ones(len(ux)), unit, parameters.clv
    )[inverse]
    spend = gamma_gamma.conditional_expected_average_spend(
        model.gamma_gamma,
        x,
        stats.monetary,
        first_amount=stats.first_amount,
        first_weight=parameters.clv.first_order_weight,
    )
    risk = churn_risk.adjust_for_signals(
        quiet, stats.complaints, stats.contacts, parameters.churn_risk
    )
    rfm_scores = rfm.scores(model.rfm_cuts, big_t - t_x, stats.occasions, stats.total_spend)
    buyer = stats.purchasers
    health_scores = health.health_score(
        churn_risk=np.where(buyer, risk, np.nan),
        recency_score=np.where(buyer, rfm_scores.recency, np.nan),
        complaints=stats.complaints,
        satisfaction=satisfaction,
        nps=stats.latest_nps(),
        weights=parameters.health,
        retention=stats.prospect_retention(parameters.health.prospect_window_days),
    )
    return Scores(
        frequency=x,
        recency=t_x,
        age=big_t,
        monetary=stats.monetary,
        horizon=horizon,
        p_alive=np.where(buyer, alive, np.nan),
        churn_risk=np.where(buyer, risk, np.nan),
        expected_purchases=np.where(buyer, expected, np.nan),
        expected_avg_spend=np.where(buyer, spend, np.nan),
        clv=np.where(buyer, discounted_purchases * spend * parameters.clv.margin, np.nan),
        rfm_recency=rfm_scores.recency,
        rfm_frequency=rfm_scores.frequency,
        rfm_monetary=rfm_scores.monetary,
        segment=np.where(buyer, rfm_scores.segment, ""),
        health_score=health_scores,
    )
