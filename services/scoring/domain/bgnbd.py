"""BG/NBD purchase and dropout model (Fader, Hardie & Lee 2005, "Counting your customers
the easy way"). Purchases follow Poisson(λ) while alive, λ ~ Gamma(r, α); after every
purchase the customer drops out with probability p ~ Beta(a, b).
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from services.scoring.domain.errors import FitError

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike

_LOG_BOUND = 15.0  # parameters stay within e^±15; hitting it means a degenerate sample
_NEAR_ONE = 1e-7  # a == 1 makes the closed form 0/0; it is continuous there


@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")
    n_customers: int = 0
    converged: bool = True
    iterations: int = 0


@dataclass(frozen=True)
class BgNbdFitSettings:
    min_customers: int = 30
    min_repeaters: int = 1
    gradient_tolerance: float = 1e-9
    max_iterations: int = 2000


def _arrays(x: ArrayLike, t_x: ArrayLike, big_t: ArrayLike) -> tuple[FloatArray, ...]:
    xs, ts, bigs = np.broadcast_arrays(
        np.asarray(x, dtype=np.float64),
        np.asarray(t_x, dtype=np.float64),
        np.asarray(big_t, dtype=np.float64),
    )
    return xs, ts, bigs


def _individual_terms(
    params: tuple[float, float, float, float], x: FloatArray, t_x: FloatArray, big_t: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per-customer log-likelihood and the weights of its two branches (alive / dead at T)."""
    r, alpha, a, b = params
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + big_t)
    repeat = x > 0
    a4 = np.where(
        repeat,
        np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    mixed = np.logaddexp(a3, a4)
    return a1 + a2 + mixed, np.exp(a3 - mixed), np.exp(a4 - mixed), a2


def log_likelihood(
    params: BgNbdParams, x: ArrayLike, t_x: ArrayLike, big_t: ArrayLike
) -> FloatArray:
    """Per-customer log-likelihood (FHL 2005, eq. 6)."""
    xs, ts, bigs = _arrays(x, t_x, big_t)
    ll, _, _, _ = _individual_terms((params.r, params.alpha, params.a, params.b), xs, ts, bigs)
    return ll


@dataclass(frozen=True)
class _Sample:
    """Fitting data with the per-x terms grouped: x takes few distinct values, so the
    gamma-function terms are evaluated once per distinct x, not once per customer."""

    x: FloatArray
    t_x: FloatArray
    big_t: FloatArray
    weights: FloatArray
    group: npt.NDArray[np.intp]
    group_x: FloatArray
    group_weight: FloatArray
    total_weight: float

    @classmethod
    def of(cls, x: FloatArray, t_x: FloatArray, big_t: FloatArray, w: FloatArray) -> "_Sample":
        group_x, group = np.unique(x, return_inverse=True)
        group = group.ravel()
        group_weight = np.bincount(group, weights=w, minlength=len(group_x)).astype(np.float64)
        return cls(x, t_x, big_t, w, group, group_x, group_weight, float(w.sum()))


def _negative_mean_ll_and_gradient(
    log_params: FloatArray, sample: _Sample
) -> tuple[float, FloatArray]:
    r, alpha, a, b = np.exp(log_params)
    x, w, gx, gw = sample.x, sample.weights, sample.group_x, sample.group_weight
    repeat = gx > 0
    group_b = np.where(repeat, b + gx - 1.0, 1.0)
    # Per distinct x: A1 + A2 of FHL 2005 and log a/(b+x−1) (−inf for x == 0).
    group_ll = gammaln(r + gx) - gammaln(r) + r * np.log(alpha) + betaln(a, b + gx) - betaln(a, b)
    group_log_odds = np.where(repeat, np.log(a) - np.log(group_b), -np.inf)

    log_age = np.log(alpha + sample.big_t)
    log_recency = np.log(alpha + sample.t_x)
    # d = A4 − A3: log odds of "dead before T" against "alive at T"
    d = group_log_odds[sample.group] + (r + x) * (log_age - log_recency)
    dead = expit(d)
    alive = 1.0 - dead
    ll = gw @ group_ll + w @ (np.logaddexp(0.0, d) - (r + x) * log_age)

    dead_w = w * dead
    group_dead = np.bincount(sample.group, weights=dead_w, minlength=len(gx))
    d_r = (
        gw @ (digamma(r + gx) - digamma(r) + np.log(alpha))
        - (w * alive) @ log_age
        - dead_w @ log_recency
    )
    d_alpha = r * sample.total_weight / alpha - (w * (r + x)) @ (
        alive / (alpha + sample.big_t) + dead / (alpha + sample.t_x)
    )
    d_a = gw @ (digamma(a + b) - digamma(a + b + gx)) + group_dead.sum() / a
    d_b = gw @ (digamma(a + b) + digamma(b + gx) - digamma(b) - digamma(a + b + gx)) - (
        group_dead @ (1.0 / group_b)
    )
    gradient = np.array([r * d_r, alpha * d_alpha, a * d_a, b * d_b])
    return -float(ll) / sample.total_weight, -gradient / sample.total_weight


def fit(
    x: ArrayLike,
    t_x: ArrayLike,
    big_t: ArrayLike,
    weights: ArrayLike | None = None,
    settings: BgNbdFitSettings | None = None,
) -> BgNbdParams:
    """Maximum-likelihood fit; ``weights`` count identical rows (see summary.collapse)."""
    settings = settings or BgNbdFitSettings()
    xs, ts, bigs = _arrays(x, t_x, big_t)
    w = np.ones_like(xs) if weights is None else np.asarray(weights, dtype=np.float64)
    _validate(xs, ts, bigs, w)
    total_weight = float(w.sum())
    if total_weight < settings.min_customers:
        raise FitError(
            f"BG/NBD needs at least {settings.min_customers} customers, got {total_weight:g}"
        )
    if float(w[xs > 0].sum()) < settings.min_repeaters:
        raise FitError("BG/NBD needs repeat purchasers; no customer has bought twice")
    # Time is rescaled so that the largest age is 10 units: it conditions the optimiser.
    scale = 10.0 / float(bigs.max()) if bigs.max() > 0 else 1.0
    args = (_Sample.of(xs, ts * scale, bigs * scale, w),)
    best = None
    for start in ([0.0, 0.0, 0.0, 0.0], [np.log(0.5), 0.0, np.log(0.5), np.log(2.0)]):
        result = minimize(
            _negative_mean_ll_and_gradient,
            np.array(start),
            args=args,
            jac=True,
            method="L-BFGS-B",
            bounds=[(-_LOG_BOUND, _LOG_BOUND)] * 4,
            options={
                "gtol": settings.gradient_tolerance,
                "ftol": 1e-15,
                "maxiter": settings.max_iterations,
                "maxcor": 20,
            },
        )
        if np.isfinite(result.fun) and (best is None or result.fun < best.fun):
            best = result
        if best is not None and best.success:
            break
    if best is None or not np.all(np.isfinite(best.x)):
        raise FitError("BG/NBD fit produced a non-finite likelihood")
    gradient_norm = float(np.max(np.abs(best.jac)))
    converged = bool(best.success) or gradient_norm < 1e-6
    if not converged:
        raise FitError(f"BG/NBD fit did not converge: {best.message}")
    if np.any(np.abs(best.x) >= _LOG_BOUND - 1e-6):
        raise FitError("BG/NBD fit ran to a parameter bound; the sample is degenerate")
    r, alpha, a, b = (float(value) for value in np.exp(best.x))
    alpha /= scale
    # The likelihood of purchase timings depends on the time unit, so it is taken unscaled.
    ll, _, _, _ = _individual_terms((r, alpha, a, b), xs, ts, bigs)
    return BgNbdParams(
        r=r,
        alpha=alpha,
        a=a,
        b=b,
        log_likelihood=float(w @ ll),
        n_customers=round(total_weight),
        converged=converged,
        iterations=int(best.nit),
    )


def _validate(x: FloatArray, t_x: FloatArray, big_t: FloatArray, w: FloatArray) -> None:
    if x.size == 0:
        raise FitError("BG/NBD needs customers; the sample is empty")
    if w.shape != x.shape:
        raise ValueError("weights must have one entry per row")
    finite = np.isfinite(x) & np.isfinite(t_x) & np.isfinite(big_t) & np.isfinite(w)
    if not finite.all():
        raise ValueError("x, t_x, T and weights must be finite")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > big_t + 1e-9) or np.any(w < 0):
        raise ValueError("need x >= 0, 0 <= t_x <= T and weights >= 0")


def _log_dead_odds(
    params: BgNbdParams, x: FloatArray, t_x: FloatArray, big_t: FloatArray
) -> FloatArray:
    """log[P(dead at T) / P(alive at T)] given (x, t_x, T); -inf for x == 0."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    return np.where(
        repeat,
        np.log(a)
        - np.log(np.where(repeat, b + x - 1, 1.0))
        + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x)),
        -np.inf,
    )


def p_alive(params: BgNbdParams, x: ArrayLike, t_x: ArrayLike, big_t: ArrayLike) -> FloatArray:
    """P(alive at T | x, t_x, T) = 1 / (1 + δ(x>0)·a/(b+x−1)·((α+T)/(α+t_x))^(r+x))."""
    xs, ts, bigs = _arrays(x, t_x, big_t)
    return np.asarray(expit(-_log_dead_odds(params, xs, ts, bigs)), dtype=np.float64)


def _hyp2f1(a: float, b: float, c: FloatArray, z: FloatArray) -> FloatArray:
    """scipy's 2F1, with the plain power series where scipy returns inf/nan (it does for
    a == b, large c and z > 0.9; there c is large, so the series converges fast)."""
    value = np.asarray(hyp2f1(a, b, c, z), dtype=np.float64)
    failed = ~np.isfinite(value)
    if failed.any():
        value[failed] = _hyp2f1_series(a, b, c[failed], z[failed])
    return value


def _hyp2f1_series(
    a: float, b: float, c: FloatArray, z: FloatArray, max_terms: int = 100_000
) -> FloatArray:
    term = np.ones_like(z)
    total = np.ones_like(z)
    for n in range(max_terms):
        term = term * ((a + n) * (b + n) / ((c + n) * (n + 1.0)) * z)
        total = total + term
        if n > 2 and np.all(np.abs(term) <= 1e-16 * np.abs(total)):
            break
    return total


def expected_purchases(
    params: BgNbdParams, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, big_t: ArrayLike
) -> FloatArray:
    """E[X(T, T+t] | x, t_x, T] (FHL 2005, eq. 10).

    The factor ((α+T)/(α+T+t))^(r+x)·2F1(r+x, b+x; a+b+x−1; z), z = t/(α+T+t), is evaluated
    through Euler's transformation as (1−z)^(a−1)·2F1(a+b−1−r, a−1; a+b+x−1; z): its upper
    parameters no longer grow with x, so it stays finite and accurate for large x and T.
    """
    ts_future, xs, ts, bigs = np.broadcast_arrays(
        np.asarray(t, dtype=np.float64), *_arrays(x, t_x, big_t)
    )
    r, alpha, b = params.r, params.alpha, params.b
    a = params.a if abs(params.a - 1.0) > _NEAR_ONE else 1.0 + _NEAR_ONE
    z = ts_future / (alpha + bigs + ts_future)
    # c = 0 (x == 0 and a + b == 1) is a removable singularity of c·(1 − 2F1(...; c; z)).
    c = a + b + xs - 1.0
    c = np.where(np.abs(c) < _NEAR_ONE, _NEAR_ONE, c)
    z, c = np.broadcast_arrays(z, c)
    survival_factor = np.exp((a - 1.0) * np.log1p(-z)) * _hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
    alive_expectation = c / (a - 1.0) * (1.0 - survival_factor)
    expected = alive_expectation * expit(-_log_dead_odds(params, xs, ts, bigs))
    return np.asarray(np.maximum(expected, 0.0))


def expected_purchases_unconditional(params: BgNbdParams, t: ArrayLike) -> FloatArray:
    """E[X(t)] for a customer who has just made the first purchase (FHL 2005, eq. 9)."""
    zeros = np.zeros_like(np.asarray(t, dtype=np.float64))
    return expected_purchases(params, t, zeros, zeros, zeros)


def prob_no_purchase(
    params: BgNbdParams, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, big_t: ArrayLike
) -> FloatArray:
    """P(X(T, T+t] = 0 | x, t_x, T).

    Derivation: dropout only follows a purchase, so an alive customer makes none in t
    iff no Poisson event falls in t; given alive, λ | data ~ Gamma(r+x, α+T), hence
    P = (1 − P(alive)) + P(alive)·E[e^(−λt)] = (1 − P(alive)) + P(alive)·((α+T)/(α+T+t))^(r+x).
    """
    ts_future, xs, ts, bigs = np.broadcast_arrays(
        np.asarray(t, dtype=np.float64), *_arrays(x, t_x, big_t)
    )
    alive = expit(-_log_dead_odds(params, xs, ts, bigs))
    quiet_if_alive = np.exp(-(params.r + xs) * np.log1p(ts_future / (params.alpha + bigs)))
    return np.asarray(np.clip(1.0 - alive * (1.0 - quiet_if_alive), 0.0, 1.0))
