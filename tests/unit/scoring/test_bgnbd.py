import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.special import hyp2f1
from scipy.stats import beta as beta_distribution

from services.scoring.domain import bgnbd
from services.scoring.domain.errors import FitError
from services.scoring.domain.simulation import simulate_bgnbd
from services.scoring.domain.summary import collapse
from tests.unit.scoring.estimation import standard_errors

CDNOW = bgnbd.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
TRUE = bgnbd.BgNbdParams(r=0.25, alpha=4.0, a=0.8, b=2.5)


def test_cdnow_published_estimates(cdnow_summary: np.ndarray) -> None:
    fitted = bgnbd.fit(cdnow_summary["x"], cdnow_summary["t_x"], cdnow_summary["T"])
    # Fader, Hardie & Lee (2005): r = 0.243, α = 4.414, a = 0.793, b = 2.426, LL = −9582.4
    assert fitted.r == pytest.approx(0.243, abs=5e-4)
    assert fitted.alpha == pytest.approx(4.414, abs=5e-4)
    assert fitted.a == pytest.approx(0.793, abs=5e-4)
    assert fitted.b == pytest.approx(2.426, abs=5e-4)
    assert fitted.log_likelihood == pytest.approx(-9582.4, abs=0.05)
    assert fitted.n_customers == 2357
    assert fitted.converged


def test_collapsed_rows_give_the_same_fit(cdnow_summary: np.ndarray) -> None:
    rows = collapse(cdnow_summary["x"], cdnow_summary["t_x"], cdnow_summary["T"])
    assert len(rows.weights) < 2357
    full = bgnbd.fit(cdnow_summary["x"], cdnow_summary["t_x"], cdnow_summary["T"])
    weighted = bgnbd.fit(rows.frequency, rows.recency, rows.age, weights=rows.weights)
    for name in ("r", "alpha", "a", "b", "log_likelihood"):
        assert getattr(weighted, name) == pytest.approx(getattr(full, name), rel=1e-6)
    assert weighted.n_customers == 2357


def test_recovers_simulated_parameters() -> None:
    rng = np.random.default_rng(20240601)
    population = simulate_bgnbd(TRUE, rng.uniform(4.0, 78.0, 60_000), rng)
    x, t_x, big_t = population.frequency, population.recency, population.age
    fitted = bgnbd.fit(x, t_x, big_t)
    estimate = np.array([fitted.r, fitted.alpha, fitted.a, fitted.b])

    def total_ll(theta: np.ndarray) -> float:
        return float(bgnbd.log_likelihood(bgnbd.BgNbdParams(*theta), x, t_x, big_t).sum())

    errors = standard_errors(total_ll, estimate)
    z = (estimate - np.array([TRUE.r, TRUE.alpha, TRUE.a, TRUE.b])) / errors
    print("BG/NBD estimate", estimate.round(4), "SE", errors.round(4), "z", z.round(2))
    # Within 4 standard errors: a seeded draw fails this with probability < 3e-4 per parameter.
    assert np.all(np.abs(z) < 4.0)


def _posterior_expectation(
    params: bgnbd.BgNbdParams, t: float, x: int, t_x: float, big_t: float
) -> float:
    """P(alive)·E[(1 − e^(−λpt))/p] with λ ~ Gamma(r+x, α+T), p ~ Beta(a, b+x) given alive,
    λ integrated analytically and p by quadrature: an independent route to FHL eq. 10."""
    shape, rate = params.r + x, params.alpha + big_t
    density = beta_distribution(params.a, params.b + x)

    def integrand(u: float) -> float:
        # over the Beta quantile u, so the integrand is bounded even where the density is not
        p = float(density.ppf(u))
        return float(-np.expm1(-shape * np.log1p(p * t / rate)) / p) if p > 0 else shape * t / rate

    cuts = [0.0, 1e-6, 1e-3, 0.1, 0.5, 0.9, 0.999, 1 - 1e-6, 1.0]
    value = sum(
        integrate.quad(integrand, lo, hi, limit=200, epsabs=0, epsrel=1e-10)[0]
        for lo, hi in itertools.pairwise(cuts)
    )
    return value * float(bgnbd.p_alive(params, x, t_x, big_t))


@pytest.mark.parametrize(
    ("t", "x", "t_x", "big_t"),
    [
        (39.0, 0, 0.0, 38.86),
        (39.0, 2, 30.43, 38.86),
        (52.0, 7, 35.0, 38.0),
        (10.0, 1, 1.0, 50.0),
        (500.0, 30, 290.0, 300.0),
        (1000.0, 1000, 999.0, 1000.0),
        (1000.0, 1000, 200.0, 1000.0),
        (5.0, 200, 100.0, 1000.0),
    ],
)
@pytest.mark.parametrize(
    "params",
    [
        CDNOW,
        bgnbd.BgNbdParams(r=2.0, alpha=10.0, a=3.0, b=8.0),
        bgnbd.BgNbdParams(r=0.5, alpha=1.0, a=0.3, b=0.4),  # c = a + b − 1 < 0 when x == 0
    ],
)
def test_expected_purchases_matches_numerical_integration(
    params: bgnbd.BgNbdParams, t: float, x: int, t_x: float, big_t: float
) -> None:
    closed_form = float(bgnbd.expected_purchases(params, t, x, t_x, big_t))
    reference = _posterior_expectation(params, t, x, t_x, big_t)
    assert closed_form == pytest.approx(reference, rel=1e-6)


def test_expected_purchases_matches_the_untransformed_formula_where_it_is_stable() -> None:
    r, alpha, a, b = CDNOW.r, CDNOW.alpha, CDNOW.a, CDNOW.b
    x, t_x, big_t, t = np.array([0, 1, 2, 5]), np.array([0, 2.0, 30.43, 20]), 38.86, 39.0
    direct = (
        (a + b + x - 1)
        / (a - 1)
        * (
            1
            - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x)
            * hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + big_t + t))
        )
        * bgnbd.p_alive(CDNOW, x, t_x, big_t)
    )
    assert np.allclose(bgnbd.expected_purchases(CDNOW, t, x, t_x, big_t), direct, rtol=1e-9)


def test_closed_forms_are_calibrated_against_monte_carlo() -> None:
    """E[P(·|data)] over a simulated population equals the simulated frequency, also within
    groups defined by the data (x == 0, 1 <= x <= 3, x >= 4)."""
    rng = np.random.default_rng(7)
    holdout = 26.0
    population = simulate_bgnbd(CDNOW, np.full(200_000, 39.0), rng, holdout=holdout)
    x, t_x, big_t = population.frequency, population.recency, population.age
    alive = bgnbd.p_alive(CDNOW, x, t_x, big_t)
    quiet = bgnbd.prob_no_purchase(CDNOW, holdout, x, t_x, big_t)
    expected = bgnbd.expected_purchases(CDNOW, holdout, x, t_x, big_t)
    for group in (x == 0, (x >= 1) & (x <= 3), x >= 4):
        n = group.sum()
        observed_alive = population.alive[group].mean()
        observed_quiet = (population.holdout_purchases[group] == 0).mean()
        observed_count = population.holdout_purchases[group].mean()
        count_se = population.holdout_purchases[group].std() / np.sqrt(n)
        # 4 binomial / sampling standard errors
        assert abs(alive[group].mean() - observed_alive) < 4 * np.sqrt(0.25 / n)
        assert abs(quiet[group].mean() - observed_quiet) < 4 * np.sqrt(0.25 / n)
        assert abs(expected[group].mean() - observed_count) < 4 * count_se


def test_unconditional_expectation_against_monte_carlo() -> None:
    rng = np.random.default_rng(11)
    population = simulate_bgnbd(CDNOW, np.full(400_000, 52.0), rng)
    counts = population.frequency
    expected = float(bgnbd.expected_purchases_unconditional(CDNOW, 52.0))
    assert abs(expected - counts.mean()) < 4 * counts.std() / np.sqrt(len(counts))
    assert float(bgnbd.expected_purchases_unconditional(CDNOW, 0.0)) == 0.0


def test_prob_no_purchase_formula() -> None:
    x, t_x, big_t, t = 3, 20.0, 38.0, 13.0
    alive = float(bgnbd.p_alive(CDNOW, x, t_x, big_t))
    gamma_laplace = ((CDNOW.alpha + big_t) / (CDNOW.alpha + big_t + t)) ** (CDNOW.r + x)
    expected = 1 - alive + alive * gamma_laplace
    assert float(bgnbd.prob_no_purchase(CDNOW, t, x, t_x, big_t)) == pytest.approx(expected)
    assert float(bgnbd.prob_no_purchase(CDNOW, 0.0, x, t_x, big_t)) == pytest.approx(1.0)


def test_extreme_histories_stay_finite() -> None:
    x = np.array([0, 0, 1, 1000, 1000, 5000, 1000])
    t_x = np.array([0.0, 0.0, 0.001, 1000.0, 1.0, 2000.0, 0.0])
    big_t = np.array([0.0, 1000.0, 1000.0, 1000.0, 1000.0, 2000.0, 1000.0])
    for t in (0.0, 1.0, 52.0, 1000.0, 1e5):
        for values in (
            bgnbd.p_alive(CDNOW, x, t_x, big_t),
            bgnbd.prob_no_purchase(CDNOW, t, x, t_x, big_t),
            bgnbd.expected_purchases(CDNOW, t, x, t_x, big_t),
        ):
            assert np.all(np.isfinite(values))
            assert np.all(values >= 0)
    heavy = bgnbd.expected_purchases(CDNOW, 52.0, 1000, 1000.0, 1000.0)
    assert float(heavy) == pytest.approx(52.0, rel=0.1)  # about one purchase a week


def test_scipy_hyp2f1_failure_region_falls_back_to_the_series() -> None:
    # b == r makes scipy's 2F1 return inf/nan for large c and z > 0.9 (found by hypothesis)
    params = bgnbd.BgNbdParams(r=0.5, alpha=1.0, a=0.5, b=0.5)
    nudged = bgnbd.BgNbdParams(r=0.5, alpha=1.0, a=0.5, b=0.5 + 1e-7)
    for x in (99, 150, 1000):
        value = float(bgnbd.expected_purchases(params, 10.0, x, 5.0, 5.0))
        assert np.isfinite(value)
        assert value == pytest.approx(
            float(bgnbd.expected_purchases(nudged, 10.0, x, 5.0, 5.0)), rel=1e-5
        )


def test_a_equal_to_one_is_handled() -> None:
    params = bgnbd.BgNbdParams(r=0.5, alpha=3.0, a=1.0, b=2.0)
    near = bgnbd.BgNbdParams(r=0.5, alpha=3.0, a=1.0 + 1e-4, b=2.0)
    value = bgnbd.expected_purchases(params, 10.0, 2, 5.0, 20.0)
    assert np.isfinite(value)
    assert float(value) == pytest.approx(
        float(bgnbd.expected_purchases(near, 10.0, 2, 5.0, 20.0)), rel=1e-3
    )


def test_too_few_customers_raise_fit_error() -> None:
    with pytest.raises(FitError, match="at least"):
        bgnbd.fit([1, 2, 0], [1.0, 2.0, 0.0], [3.0, 3.0, 3.0])


def test_no_repeaters_raise_fit_error() -> None:
    with pytest.raises(FitError, match="repeat"):
        bgnbd.fit(np.zeros(100), np.zeros(100), np.full(100, 10.0))


def test_empty_sample_raises_fit_error() -> None:
    with pytest.raises(FitError):
        bgnbd.fit([], [], [])


def test_non_convergence_raises_fit_error(cdnow_summary: np.ndarray) -> None:
    with pytest.raises(FitError, match="converge"):
        bgnbd.fit(
            cdnow_summary["x"],
            cdnow_summary["t_x"],
            cdnow_summary["T"],
            settings=bgnbd.BgNbdFitSettings(max_iterations=2),
        )


def test_inconsistent_data_are_rejected() -> None:
    with pytest.raises(ValueError, match="t_x <= T"):
        bgnbd.fit(np.ones(50), np.full(50, 5.0), np.full(50, 4.0))


params_strategy = st.builds(
    bgnbd.BgNbdParams,
    r=st.floats(0.01, 20),
    alpha=st.floats(0.01, 100),
    a=st.floats(0.01, 20),
    b=st.floats(0.01, 20),
)
history_strategy = st.tuples(st.integers(0, 2000), st.floats(0, 1), st.floats(0, 2000)).map(
    lambda h: (h[0], 0.0 if h[0] == 0 else h[1] * h[2], h[2])
)


@settings(max_examples=200, deadline=None)
@given(params=params_strategy, history=history_strategy)
def test_p_alive_is_a_probability(
    params: bgnbd.BgNbdParams, history: tuple[int, float, float]
) -> None:
    value = float(bgnbd.p_alive(params, *history))
    assert 0.0 <= value <= 1.0


@settings(max_examples=100, deadline=None)
@given(
    params=params_strategy,
    history=history_strategy,
    horizons=st.lists(st.floats(0, 5000), min_size=2, max_size=6),
)
def test_prob_no_purchase_decreases_and_expectation_increases_with_horizon(
    params: bgnbd.BgNbdParams, history: tuple[int, float, float], horizons: list[float]
) -> None:
    t = np.sort(np.array(horizons))
    quiet = bgnbd.prob_no_purchase(params, t, *history)
    expected = bgnbd.expected_purchases(params, t, *history)
    assert np.all((quiet >= 0) & (quiet <= 1))
    assert np.all(np.diff(quiet) <= 1e-12)
    assert np.all(np.isfinite(expected))
    assert np.all(np.diff(expected) >= -1e-9 * np.maximum(1.0, expected[1:]))
