"""Synthetic populations drawn from the BG/NBD and Gamma-Gamma models (tests, benchmarks)."""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.scoring.domain.bgnbd import BgNbdParams
from services.scoring.domain.gamma_gamma import GammaGammaParams

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class SimulatedPopulation:
    frequency: IntArray
    recency: FloatArray
    age: FloatArray
    alive: npt.NDArray[np.bool_]
    holdout_purchases: IntArray
    purchase_rate: FloatArray


def simulate_bgnbd(
    params: BgNbdParams, age: npt.ArrayLike, rng: np.random.Generator, holdout: float = 0.0
) -> SimulatedPopulation:
    """Exact draws: N(T) ~ Poisson(λT) events, death after purchase D ~ Geometric(p);
    x = min(N, D), t_x = T·Beta(x, N−x+1) (the x-th of N uniform arrival times)."""
    big_t = np.asarray(age, dtype=np.float64)
    n = big_t.size
    rate = rng.gamma(params.r, 1.0 / params.alpha, n)
    dropout = rng.beta(params.a, params.b, n)
    arrivals = rng.poisson(rate * big_t)
    purchases_until_death = rng.geometric(np.clip(dropout, 1e-300, 1.0))
    x = np.minimum(arrivals, purchases_until_death)
    repeat = x > 0
    t_x = np.zeros(n)
    t_x[repeat] = big_t[repeat] * rng.beta(x[repeat], arrivals[repeat] - x[repeat] + 1)
    alive = purchases_until_death > arrivals
    future = rng.poisson(rate * holdout) if holdout > 0 else np.zeros(n, dtype=np.int64)
    holdout_purchases = np.where(alive, np.minimum(future, purchases_until_death - arrivals), 0)
    return SimulatedPopulation(
        frequency=x.astype(np.int64),
        recency=t_x,
        age=big_t,
        alive=alive,
        holdout_purchases=holdout_purchases.astype(np.int64),
        purchase_rate=rate,
    )


def simulate_mean_spend(
    params: GammaGammaParams, frequency: npt.ArrayLike, rng: np.random.Generator
) -> FloatArray:
    """Mean of x repeat values, each Gamma(p, rate ν), ν ~ Gamma(q, rate γ); 0 when x == 0."""
    x = np.asarray(frequency, dtype=np.float64)
    nu = rng.gamma(params.q, 1.0 / params.gamma, x.size)
    shape = np.where(x > 0, params.p * x, 1.0)
    means = rng.gamma(shape, 1.0 / (nu * np.maximum(x, 1.0)))
    return np.where(x > 0, means, 0.0)
