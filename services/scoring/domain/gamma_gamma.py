"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"; Fader & Hardie note 025).

The value of each repeat occasion is Gamma(p, ν), ν ~ Gamma(q, γ) across customers; the
model is fitted on customers with x > 0 from the mean value of their repeat occasions.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import digamma, gammaln

from services.scoring.domain.errors import FitError

FloatArray = npt.NDArray[np.float64]

_LOG_BOUND = 20.0


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float
    log_likelihood: float = float("nan")
    n_customers: int = 0

    @property
    def population_mean_spend(self) -> float:
        return self.p * self.gamma / (self.q - 1.0)


@dataclass(frozen=True)
class GammaGammaFitSettings:
    min_customers: int = 10
    gradient_tolerance: float = 1e-10
    max_iterations: int = 2000


def _repeaters(
    x: npt.ArrayLike, m: npt.ArrayLike, weights: npt.ArrayLike | None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    xs, ms = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(m, dtype=np.float64))
    w = np.ones_like(xs) if weights is None else np.asarray(weights, dtype=np.float64)
    keep = (xs > 0) & (w > 0)
    if np.any(ms[keep] <= 0) or not np.all(np.isfinite(ms[keep])):
        raise FitError("Gamma-Gamma needs positive, finite mean repeat values")
    return xs[keep], ms[keep], w[keep]


@dataclass(frozen=True)
class _Sample:
    """Repeaters with the gamma-function terms grouped by distinct x."""

    x: FloatArray
    m: FloatArray
    weights: FloatArray
    log_m_x: FloatArray  # log m + log x, the parameter-free part of the density
    group: npt.NDArray[np.intp]
    group_x: FloatArray
    group_weight: FloatArray
    total_weight: float

    @classmethod
    def of(cls, x: FloatArray, m: FloatArray, w: FloatArray) -> "_Sample":
        group_x, group = np.unique(x, return_inverse=True)
        group = group.ravel()
        group_weight = np.bincount(group, weights=w, minlength=len(group_x)).astype(np.float64)
        return cls(x, m, w, np.log(m) + np.log(x), group, group_x, group_weight, float(w.sum()))


def _negative_mean_ll_and_gradient(
    log_params: FloatArray, sample: _Sample
) -> tuple[float, FloatArray]:
    p, q, gamma = np.exp(log_params)
    x, m, w, gx, gw = sample.x, sample.m, sample.weights, sample.group_x, sample.group_weight
    total = sample.total_weight
    px = p * x
    log_spend = np.log(gamma + m * x)
    # f(m | x) = Γ(px+q)/(Γ(px)Γ(q)) · γ^q · m^(px−1) · x^(px) / (γ + m·x)^(px+q)
    ll = (
        gw @ (gammaln(p * gx + q) - gammaln(p * gx) - gammaln(q) + q * np.log(gamma))
        + (w * px) @ sample.log_m_x
        - w @ np.log(m)
        - (w * (px + q)) @ log_spend
    )
    d_p = (gw * gx) @ (digamma(p * gx + q) - digamma(p * gx)) + (w * x) @ (
        sample.log_m_x - log_spend
    )
    d_q = gw @ (digamma(p * gx + q) - digamma(q) + np.log(gamma)) - w @ log_spend
    d_gamma = q * total / gamma - (w * (px + q)) @ (1.0 / (gamma + m * x))
    gradient = np.array([p * d_p, q * d_q, gamma * d_gamma])
    return -float(ll) / total, -gradient / total


def fit(
    x: npt.ArrayLike,
    monetary: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    settings: GammaGammaFitSettings | None = None,
) -> GammaGammaParams:
    """Maximum likelihood on repeaters (x > 0); others are ignored."""
    settings = settings or GammaGammaFitSettings()
    xs, ms, w = _repeaters(x, monetary, weights)
    total = float(w.sum())
    if total < settings.min_customers:
        raise FitError(
            f"Gamma-Gamma needs at least {settings.min_customers} repeat customers, got {total:g}"
        )
    # Money is rescaled so that the mean spend is 1: it conditions the optimiser.
    scale = float(np.average(ms, weights=w))
    start = np.log([1.0, 2.0, 1.0])
    result = minimize(
        _negative_mean_ll_and_gradient,
        start,
        args=(_Sample.of(xs, ms / scale, w),),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-_LOG_BOUND, _LOG_BOUND)] * 3,
        options={
            "gtol": settings.gradient_tolerance,
            "ftol": 1e-15,
            "maxiter": settings.max_iterations,
        },
    )
    if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
        raise FitError("Gamma-Gamma fit produced a non-finite likelihood")
    if not result.success and float(np.max(np.abs(result.jac))) > 1e-6:
        raise FitError(f"Gamma-Gamma fit did not converge: {result.message}")
    if np.any(np.abs(result.x) >= _LOG_BOUND - 1e-6):
        raise FitError("Gamma-Gamma fit ran to a parameter bound; the sample is degenerate")
    p, q, gamma = (float(value) for value in np.exp(result.x))
    if q <= 1.0:
        raise FitError(f"Gamma-Gamma fit gave q = {q:.4g} <= 1: the mean spend is infinite")
    gamma *= scale
    ll = -_negative_mean_ll_and_gradient(np.log([p, q, gamma]), _Sample.of(xs, ms, w))[0] * total
    return GammaGammaParams(p=p, q=q, gamma=gamma, log_likelihood=ll, n_customers=round(total))


def conditional_expected_average_spend(
    params: GammaGammaParams,
    x: npt.ArrayLike,
    monetary: npt.ArrayLike,
    first_amount: npt.ArrayLike | None = None,
    first_weight: float = 1.0,
) -> FloatArray:
    """E[Z | x, m] = p(γ + x·m) / (p·x + q − 1) for repeat buyers (x > 0), the literature's.

    A one-time buyer (x == 0) has no repeat value; without ``first_amount`` they get the
    population mean pγ/(q−1). With it, the first occasion's value z₁ counts as w observations
    of the customer's spend (w = ``first_weight``, 0..1): E[Z | z₁] = p(γ + w·z₁)/(p·w + q − 1),
    the same Gamma posterior with x = w, m = z₁. w = 1 treats the first order as one ordinary
    occasion; w = 0 gives back the population mean. The weight on z₁ is p·w/(p·w + q − 1):
    the population's spread (p, q) decides how far one order moves the estimate.
    """
    if not 0.0 <= first_weight <= 1.0:
        raise ValueError("first_weight must be within [0, 1]")
    xs, ms = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(monetary, dtype=float))
    ms = np.where(xs > 0, ms, 0.0)
    n = xs
    if first_amount is not None:
        first = np.broadcast_to(np.asarray(first_amount, dtype=np.float64), xs.shape)
        known = (xs == 0) & np.isfinite(first) & (first > 0)
        n = np.where(known, first_weight, xs)
        ms = np.where(known, first, ms)
    p, q, gamma = params.p, params.q, params.gamma
    return np.asarray(p * (gamma + n * ms) / (p * n + q - 1.0))


def log_likelihood(
    params: GammaGammaParams, x: npt.ArrayLike, monetary: npt.ArrayLike
) -> FloatArray:
    """Per-repeater log density of the mean repeat value (customers with x == 0 dropped)."""
    xs, ms, _ = _repeaters(x, monetary, None)
    p, q, gamma = params.p, params.q, params.gamma
    return np.asarray(
        gammaln(p * xs + q)
        - gammaln(p * xs)
        - gammaln(q)
        + q * np.log(gamma)
        + (p * xs - 1.0) * np.log(ms)
        + p * xs * np.log(xs)
        - (p * xs + q) * np.log(gamma + ms * xs)
    )
