import numpy as np
import pytest

from services.scoring.domain import gamma_gamma
from services.scoring.domain.bgnbd import BgNbdParams
from services.scoring.domain.errors import FitError
from services.scoring.domain.simulation import simulate_bgnbd, simulate_mean_spend
from tests.unit.scoring.estimation import standard_errors

TRUE = gamma_gamma.GammaGammaParams(p=6.25, q=3.74, gamma=15.44)


def test_cdnow_published_estimates(cdnow_summary: np.ndarray) -> None:
    fitted = gamma_gamma.fit(cdnow_summary["x"], cdnow_summary["zbar"])
    # Fader, Hardie & Lee, "The Gamma-Gamma model of monetary value" (2013 note): 946 repeaters
    assert fitted.n_customers == 946
    assert fitted.p == pytest.approx(6.25, abs=0.01)
    assert fitted.q == pytest.approx(3.74, abs=0.01)
    assert fitted.gamma == pytest.approx(15.44, abs=0.02)
    assert fitted.log_likelihood == pytest.approx(-4055.9, abs=0.1)


def test_recovers_simulated_parameters() -> None:
    rng = np.random.default_rng(99)
    population = simulate_bgnbd(
        BgNbdParams(r=0.25, alpha=4.0, a=0.8, b=2.5), rng.uniform(4, 78, 120_000), rng
    )
    x = population.frequency
    m = simulate_mean_spend(TRUE, x, rng)
    fitted = gamma_gamma.fit(x, m)
    estimate = np.array([fitted.p, fitted.q, fitted.gamma])

    def total_ll(theta: np.ndarray) -> float:
        return float(gamma_gamma.log_likelihood(gamma_gamma.GammaGammaParams(*theta), x, m).sum())

    errors = standard_errors(total_ll, estimate)
    z = (estimate - np.array([TRUE.p, TRUE.q, TRUE.gamma])) / errors
    print("Gamma-Gamma estimate", estimate.round(3), "SE", errors.round(3), "z", z.round(2))
    # Within 4 standard errors (p and γ are strongly correlated, hence the wide SEs)
    assert np.all(np.abs(z) < 4.0)


def test_conditional_expected_average_spend() -> None:
    params = gamma_gamma.GammaGammaParams(p=6.25, q=3.74, gamma=15.44)
    spend = gamma_gamma.conditional_expected_average_spend(
        params, [0, 1, 10, 1000], [0, 30, 30, 30]
    )
    assert spend[0] == pytest.approx(params.population_mean_spend)
    assert spend[0] == pytest.approx(6.25 * 15.44 / 2.74)
    assert spend[1] == pytest.approx(6.25 * (15.44 + 30) / (6.25 + 2.74))
    # more repeat purchases pull the estimate towards the customer's own mean
    assert abs(spend[3] - 30) < abs(spend[2] - 30) < abs(spend[1] - 30)


def test_too_few_repeaters_raise_fit_error() -> None:
    with pytest.raises(FitError, match="at least"):
        gamma_gamma.fit([0, 0, 1, 2], [0, 0, 10.0, 12.0])


def test_non_positive_spend_raises_fit_error() -> None:
    with pytest.raises(FitError, match="positive"):
        gamma_gamma.fit(np.ones(20), np.r_[np.full(19, 10.0), 0.0])


def test_heavy_tailed_spend_gives_q_at_most_one_fit_error() -> None:
    rng = np.random.default_rng(5)
    x = rng.integers(1, 4, 20_000)
    m = simulate_mean_spend(gamma_gamma.GammaGammaParams(p=2.0, q=0.6, gamma=5.0), x, rng)
    with pytest.raises(FitError, match="q"):
        gamma_gamma.fit(x, m)


def test_non_convergence_raises_fit_error(cdnow_summary: np.ndarray) -> None:
    with pytest.raises(FitError, match="converge"):
        gamma_gamma.fit(
            cdnow_summary["x"],
            cdnow_summary["zbar"],
            settings=gamma_gamma.GammaGammaFitSettings(max_iterations=1),
        )
