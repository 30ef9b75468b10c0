"""Customer lifetime value: the discounted BG/NBD + Gamma-Gamma model, and the seeds'
simple formulas (M = yearly contribution margin, t = lifetime in years, R = churn rate).
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.scoring.domain import bgnbd
from services.scoring.domain.summary import DAYS_PER_UNIT, TimeUnit, days_per_unit

FloatArray = npt.NDArray[np.float64]

HEALTHY_LTV_TO_CAC = 3.0


@dataclass(frozen=True)
class ClvSettings:
    horizon_months: int = 12
    monthly_discount_rate: float = 0.01
    margin: float = 1.0
    # How many observations of a one-time buyer's spend their first order counts as (0..1).
    first_order_weight: float = 1.0


def discounted_clv(
    params: bgnbd.BgNbdParams,
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    big_t: npt.ArrayLike,
    expected_average_spend: npt.ArrayLike,
    time_unit: TimeUnit,
    settings: ClvSettings | None = None,
) -> FloatArray:
    """Σ_k (E[X(T, T+k months]] − E[X(T, T+(k−1) months]]) · spend · margin / (1+d)^k."""
    settings = settings or ClvSettings()
    month = DAYS_PER_UNIT["month"] / days_per_unit(time_unit)
    months = np.arange(settings.horizon_months + 1, dtype=np.float64)
    xs, ts, bigs, spend = np.broadcast_arrays(
        np.asarray(x, dtype=np.float64),
        np.asarray(t_x, dtype=np.float64),
        np.asarray(big_t, dtype=np.float64),
        np.asarray(expected_average_spend, dtype=np.float64),
    )
    cumulative = bgnbd.expected_purchases(
        params, months * month, xs[..., None], ts[..., None], bigs[..., None]
    )
    per_month = np.diff(cumulative, axis=-1)
    discount = (1.0 + settings.monthly_discount_rate) ** -months[1:]
    return np.asarray(per_month @ discount * spend * settings.margin)


def historical_value(margins: npt.ArrayLike) -> float:
    """CLV = ΣM: the margin realised so far."""
    return float(np.sum(np.asarray(margins, dtype=np.float64)))


def current_value(yearly_margin: float, lifetime_years: float) -> float:
    """CLV = M·t."""
    return yearly_margin * lifetime_years


def value_with_churn(yearly_margin: float, lifetime_years: float, churn_rate: float) -> float:
    """CLV = M·t·(1−R)^t."""
    return yearly_margin * lifetime_years * (1.0 - churn_rate) ** lifetime_years


def net_value(
    yearly_margin: float,
    lifetime_years: float,
    churn_rate: float,
    acquisition_cost: float,
    service_cost: float,
) -> float:
    """CLV = M·t·(1−R)^t − CAC − COC."""
    return value_with_churn(yearly_margin, lifetime_years, churn_rate) - (
        acquisition_cost + service_cost
    )


def lifetime_from_renewal_rate(renewal_rate: float) -> float:
    """Expected lifetime in renewal periods = 1 / (1 − renewal rate); inf at 100 %."""
    if not 0.0 <= renewal_rate <= 1.0:
        raise ValueError("renewal_rate must be within [0, 1]")
    return float("inf") if renewal_rate == 1.0 else 1.0 / (1.0 - renewal_rate)


def ltv_to_cac(lifetime_value: float, acquisition_cost: float) -> float:
    if acquisition_cost <= 0:
        raise ValueError("acquisition_cost must be positive")
    return lifetime_value / acquisition_cost


def is_healthy(ratio: float, threshold: float = HEALTHY_LTV_TO_CAC) -> bool:
    """The seeds' rule of thumb: LTV/CAC above 3 is a healthy business."""
    return ratio > threshold
