"""Shifted-beta-geometric retention model for contractual businesses (Fader & Hardie 2007,
"How to project customer retention"; DERL from Fader & Hardie 2010).

Each customer churns at the end of a period with probability θ ~ Beta(α, β); ``survivors``
are the customers still active at the start of each period, period 0 first.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import betaln, digamma, hyp2f1

from services.scoring.domain.errors import FitError

FloatArray = npt.NDArray[np.float64]

_LOG_BOUND = 15.0


@dataclass(frozen=True)
class SbgParams:
    alpha: float
    beta: float
    log_likelihood: float = float("nan")


def survival(params: SbgParams, periods: npt.ArrayLike) -> FloatArray:
    """S(t) = B(α, β+t) / B(α, β), the share still active after t periods."""
    t = np.asarray(periods, dtype=np.float64)
    return np.asarray(
        np.exp(betaln(params.alpha, params.beta + t) - betaln(params.alpha, params.beta))
    )


def churn_probability(params: SbgParams, periods: npt.ArrayLike) -> FloatArray:
    """P(T = t) = B(α+1, β+t−1) / B(α, β) for t = 1, 2, ..."""
    t = np.asarray(periods, dtype=np.float64)
    log_p = betaln(params.alpha + 1.0, params.beta + t - 1.0) - betaln(params.alpha, params.beta)
    return np.asarray(np.exp(log_p))


def _negative_ll_and_gradient(
    log_params: FloatArray, churned: FloatArray, last_survivors: float
) -> tuple[float, FloatArray]:
    alpha, beta = np.exp(log_params)
    n = len(churned)
    t = np.arange(1, n + 1, dtype=np.float64)
    base = betaln(alpha, beta)
    d_base_alpha = digamma(alpha) - digamma(alpha + beta)
    d_base_beta = digamma(beta) - digamma(alpha + beta)
    log_p = betaln(alpha + 1.0, beta + t - 1.0) - base
    log_s = betaln(alpha, beta + n) - base
    ll = churned @ log_p + last_survivors * log_s
    d_p_alpha = digamma(alpha + 1.0) - digamma(alpha + beta + t) - d_base_alpha
    d_p_beta = digamma(beta + t - 1.0) - digamma(alpha + beta + t) - d_base_beta
    d_s_alpha = digamma(alpha) - digamma(alpha + beta + n) - d_base_alpha
    d_s_beta = digamma(beta + n) - digamma(alpha + beta + n) - d_base_beta
    gradient = np.array(
        [
            alpha * (churned @ d_p_alpha + last_survivors * d_s_alpha),
            beta * (churned @ d_p_beta + last_survivors * d_s_beta),
        ]
    )
    return -float(ll), -gradient


def fit(survivors: Sequence[float]) -> SbgParams:
    """Maximum likelihood from a survivor series S_0 >= S_1 >= ... (at least two periods)."""
    counts = np.asarray(survivors, dtype=np.float64)
    if counts.ndim != 1 or len(counts) < 3:
        raise FitError("sBG needs survivor counts for at least three periods (period 0 first)")
    if np.any(counts < 0) or np.any(np.diff(counts) > 0) or counts[0] <= 0:
        raise FitError("survivor counts must be non-negative, non-increasing and start above 0")
    churned = -np.diff(counts)
    if churned.sum() == 0:
        raise FitError("sBG cannot be fitted when nobody churned")
    result = minimize(
        _negative_ll_and_gradient,
        np.zeros(2),
        args=(churned, float(counts[-1])),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-_LOG_BOUND, _LOG_BOUND)] * 2,
        options={"gtol": 1e-10, "ftol": 1e-15, "maxiter": 1000},
    )
    if not np.all(np.isfinite(result.x)) or (
        not result.success and float(np.max(np.abs(result.jac))) > 1e-5
    ):
        raise FitError(f"sBG fit did not converge: {result.message}")
    if np.any(np.abs(result.x) >= _LOG_BOUND - 1e-6):
        raise FitError("sBG fit ran to a parameter bound; the series is degenerate")
    alpha, beta = np.exp(result.x)
    return SbgParams(alpha=float(alpha), beta=float(beta), log_likelihood=-float(result.fun))


def projected_survivors(params: SbgParams, n_periods: int, initial: float = 1000.0) -> FloatArray:
    """Expected active customers at the start of periods 0..n_periods (n_periods + 1 values)."""
    return initial * survival(params, np.arange(n_periods + 1))


def expected_lifetime(params: SbgParams) -> float:
    """Mean number of periods a new customer stays: Σ S(t) = E[1/θ] = (α+β−1)/(α−1).

    The mean is infinite when α <= 1 (the slow churners' tail is too heavy); then this
    returns ``inf`` and ``truncated_expected_lifetime`` or the discounted lifetime give a
    finite figure.
    """
    if params.alpha <= 1.0:
        return float("inf")
    return (params.alpha + params.beta - 1.0) / (params.alpha - 1.0)


def truncated_expected_lifetime(params: SbgParams, horizon: int) -> float:
    """Expected periods active within the first ``horizon`` periods: Σ_{t<horizon} S(t)."""
    return float(survival(params, np.arange(horizon)).sum())


def discounted_expected_lifetime(params: SbgParams, discount_rate: float) -> float:
    """DEL = Σ_{t>=0} S(t)/(1+d)^t = 2F1(1, β; α+β; 1/(1+d)) for a customer at period 0."""
    _check_rate(discount_rate)
    return float(hyp2f1(1.0, params.beta, params.alpha + params.beta, 1.0 / (1.0 + discount_rate)))


def discounted_expected_residual_lifetime(
    params: SbgParams, discount_rate: float, renewals: int = 1
) -> float:
    """DERL of a customer who has renewed ``renewals`` times (Fader & Hardie 2010, eq. 6).

    DERL = Σ_{t>=n} S(t)/S(n−1)/(1+d)^(t−n) with n = renewals + 1
         = (β+n−1)/(α+β+n−1) · 2F1(1, β+n; α+β+n; 1/(1+d)).
    """
    _check_rate(discount_rate)
    if renewals < 0:
        raise ValueError("renewals must be >= 0")
    n = renewals + 1
    alpha, beta = params.alpha, params.beta
    renewal_probability = (beta + n - 1.0) / (alpha + beta + n - 1.0)
    return float(
        renewal_probability * hyp2f1(1.0, beta + n, alpha + beta + n, 1.0 / (1.0 + discount_rate))
    )


def _check_rate(discount_rate: float) -> None:
    if discount_rate <= 0:
        raise ValueError("the discount rate must be positive for a finite discounted lifetime")
