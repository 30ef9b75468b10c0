"""Churn risk = P(no purchase within the horizon | history), from BG/NBD, shifted by
complaint and contact signals on the logit scale:

    logit(risk) = logit(P(X(T, T+h] = 0)) + w_complaint·min(complaints, cap)
                  − w_contact·min(contacts, cap)

1 − P(alive) is not used: it calls every one-time buyer certainly alive (x == 0 gives
P(alive) = 1), ranking the customers least likely to come back as the safest.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import expit, logit

from services.scoring.domain import bgnbd
from services.scoring.domain.summary import TimeUnit, days_per_unit

FloatArray = npt.NDArray[np.float64]

_EDGE = 1e-9  # keeps the logit finite; risk is reported within [1e-9, 1 − 1e-9]


@dataclass(frozen=True)
class ChurnRiskSettings:
    horizon_days: float = 90.0
    complaint_weight: float = 0.5  # logit shift per open or recent complaint
    contact_weight: float = 0.25  # logit shift per recent inbound contact (engagement)
    signal_cap: int = 3  # more signals than this add nothing


def horizon_in_units(horizon_days: float, time_unit: TimeUnit) -> float:
    return horizon_days / days_per_unit(time_unit)


def adjust_for_signals(
    base_risk: npt.ArrayLike,
    complaints: npt.ArrayLike = 0,
    contacts: npt.ArrayLike = 0,
    settings: ChurnRiskSettings | None = None,
) -> FloatArray:
    settings = settings or ChurnRiskSettings()
    risk = np.clip(np.asarray(base_risk, dtype=np.float64), _EDGE, 1.0 - _EDGE)
    complaint_count = np.minimum(np.asarray(complaints, dtype=np.float64), settings.signal_cap)
    contact_count = np.minimum(np.asarray(contacts, dtype=np.float64), settings.signal_cap)
    shift = settings.complaint_weight * complaint_count - settings.contact_weight * contact_count
    return np.asarray(expit(logit(risk) + shift))


def churn_risk(
    params: bgnbd.BgNbdParams,
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    big_t: npt.ArrayLike,
    time_unit: TimeUnit,
    complaints: npt.ArrayLike = 0,
    contacts: npt.ArrayLike = 0,
    horizon: float | None = None,
    settings: ChurnRiskSettings | None = None,
) -> FloatArray:
    """``horizon`` is in ``time_unit``s; by default the settings' horizon_days converted."""
    settings = settings or ChurnRiskSettings()
    if horizon is None:
        horizon = horizon_in_units(settings.horizon_days, time_unit)
    base = bgnbd.prob_no_purchase(params, horizon, x, t_x, big_t)
    return adjust_for_signals(base, complaints, contacts, settings)
