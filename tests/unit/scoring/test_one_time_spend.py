"""Issue 16.1a: a one-time buyer's expected spend uses their first order, shrunk toward the
population; repeat buyers keep the literature's Gamma-Gamma figure."""

import numpy as np
import pytest
from scipy.stats import spearmanr

from services.scoring.domain import bgnbd, clv, gamma_gamma
from services.scoring.domain.bgnbd import BgNbdParams
from services.scoring.domain.gamma_gamma import GammaGammaParams
from services.scoring.domain.simulation import simulate_bgnbd

CDNOW = GammaGammaParams(p=6.25, q=3.74, gamma=15.44)


def test_a_one_time_buyer_counts_the_first_order_as_one_observation() -> None:
    spend = gamma_gamma.conditional_expected_average_spend(
        CDNOW, [0, 0], [0, 0], first_amount=[5.0, 500.0]
    )
    p, q, g = CDNOW.p, CDNOW.q, CDNOW.gamma
    assert spend[0] == pytest.approx(p * (g + 5.0) / (p + q - 1))
    assert spend[1] == pytest.approx(p * (g + 500.0) / (p + q - 1))
    # a small first order predicts less than the population mean, a large one more
    assert spend[0] < CDNOW.population_mean_spend < spend[1]


def test_the_weight_shrinks_toward_the_population_mean() -> None:
    def one_time(weight: float) -> float:
        return float(
            gamma_gamma.conditional_expected_average_spend(
                CDNOW, [0], [0], first_amount=[500.0], first_weight=weight
            )[0]
        )

    assert one_time(0.0) == pytest.approx(CDNOW.population_mean_spend)
    assert CDNOW.population_mean_spend < one_time(0.25) < one_time(1.0)


def test_repeat_buyers_keep_the_literature_figure_whatever_their_first_order() -> None:
    with_first = gamma_gamma.conditional_expected_average_spend(
        CDNOW, [1, 10], [30.0, 30.0], first_amount=[5000.0, 1.0]
    )
    without = gamma_gamma.conditional_expected_average_spend(CDNOW, [1, 10], [30.0, 30.0])
    assert with_first == pytest.approx(without)
    assert with_first[0] == pytest.approx(6.25 * (15.44 + 30) / (6.25 + 2.74))


def test_a_99_yuan_one_time_buyer_is_worth_far_less_than_a_6_million_one() -> None:
    """The issue's figures: both had CLV near 100,000 from the population mean."""
    demo = GammaGammaParams(p=6.0, q=3.5, gamma=25_000.0)
    spend = gamma_gamma.conditional_expected_average_spend(
        demo, [0, 0, 0], [0, 0, 0], first_amount=[99.0, 20.0, 6_000_000.0]
    )
    assert spend[0] < 0.5 * demo.population_mean_spend
    assert spend[2] > 10 * demo.population_mean_spend


def test_on_simulated_data_the_first_order_ranks_one_time_buyers_better_in_the_holdout() -> None:
    """Calibration: one year; holdout: the next 52 weeks. Every occasion's value is
    Gamma(p, ν) with the customer's own ν ~ Gamma(q, γ), the first one included."""
    rng = np.random.default_rng(2026)
    truth = BgNbdParams(r=0.6, alpha=5.0, a=0.7, b=3.0)
    spend_truth = GammaGammaParams(p=6.0, q=3.5, gamma=25_000.0)
    n = 60_000
    age = rng.uniform(4, 52, n)
    people = simulate_bgnbd(truth, age, rng, holdout=52.0)
    nu = rng.gamma(spend_truth.q, 1.0 / spend_truth.gamma, n)
    first = rng.gamma(spend_truth.p, 1.0 / nu)
    x = people.frequency
    repeat_mean = np.where(
        x > 0, rng.gamma(spend_truth.p * np.maximum(x, 1), 1.0 / (nu * np.maximum(x, 1))), 0.0
    )
    holdout_spend = np.where(
        people.holdout_purchases > 0,
        rng.gamma(spend_truth.p * np.maximum(people.holdout_purchases, 1), 1.0 / nu),
        0.0,
    )
    fitted = gamma_gamma.fit(x, repeat_mean)
    model = bgnbd.fit(x, people.recency, people.age)
    one_time = x == 0
    purchases = clv.discounted_clv(
        model, x[one_time], people.recency[one_time], people.age[one_time], 1.0, "week"
    )
    population = purchases * gamma_gamma.conditional_expected_average_spend(
        fitted, x[one_time], repeat_mean[one_time]
    )
    own = purchases * gamma_gamma.conditional_expected_average_spend(
        fitted, x[one_time], repeat_mean[one_time], first_amount=first[one_time]
    )
    actual = holdout_spend[one_time]
    rho_population = spearmanr(population, actual).statistic
    rho_own = spearmanr(own, actual).statistic
    # Most one-time buyers never buy again (many ties at 0, ranked by timing alone); among
    # those who do, what they spend is where the first order tells.
    back = actual > 0
    rho_back_population = spearmanr(population[back], actual[back]).statistic
    rho_back_own = spearmanr(own[back], actual[back]).statistic
    print(
        f"one-time buyers {one_time.sum()}: Spearman {rho_population:.3f} -> {rho_own:.3f}; "
        f"the {back.sum()} who bought again {rho_back_population:.3f} -> {rho_back_own:.3f}"
    )
    assert rho_own > rho_population
    assert rho_back_own > rho_back_population + 0.1
    # and the sums stay calibrated: the total expected value of one-time buyers moves < 10 %
    assert own.sum() == pytest.approx(population.sum(), rel=0.10)
