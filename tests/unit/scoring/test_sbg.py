import numpy as np
import pytest

from services.scoring.domain import sbg
from services.scoring.domain.errors import FitError

# Fader & Hardie (2007), "How to project customer retention", years 0..7
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]


def test_published_estimates() -> None:
    # the paper: regular α = 0.704, β = 1.182; high end α = 0.668, β = 3.806
    regular = sbg.fit(REGULAR)
    high_end = sbg.fit(HIGH_END)
    assert (regular.alpha, regular.beta) == pytest.approx((0.704, 1.182), abs=1e-3)
    assert (high_end.alpha, high_end.beta) == pytest.approx((0.668, 3.806), abs=1e-3)


def test_projection_extends_and_tracks_the_series() -> None:
    params = sbg.fit(REGULAR)
    projected = sbg.projected_survivors(params, 12, initial=1000)
    assert len(projected) == 13
    assert projected[0] == 1000
    assert np.all(np.diff(projected) < 0)
    assert np.max(np.abs(projected[:8] - REGULAR)) < 10  # within 1 % of the cohort


def test_expected_lifetime_matches_the_sum_of_survival_and_monte_carlo() -> None:
    params = sbg.SbgParams(alpha=3.0, beta=4.0)
    closed_form = sbg.expected_lifetime(params)
    assert closed_form == pytest.approx((3 + 4 - 1) / (3 - 1))
    assert sbg.truncated_expected_lifetime(params, 200_000) == pytest.approx(closed_form, rel=1e-4)
    rng = np.random.default_rng(3)
    lifetimes = rng.geometric(rng.beta(3.0, 4.0, 400_000))
    assert abs(lifetimes.mean() - closed_form) < 4 * lifetimes.std() / np.sqrt(len(lifetimes))


def test_expected_lifetime_is_infinite_when_alpha_at_most_one() -> None:
    params = sbg.fit(REGULAR)
    assert params.alpha < 1
    assert sbg.expected_lifetime(params) == float("inf")
    assert np.isfinite(sbg.truncated_expected_lifetime(params, 100))


@pytest.mark.parametrize("rate", [0.05, 0.1, 0.3])
def test_discounted_lifetimes_match_direct_sums(rate: float) -> None:
    params = sbg.fit(HIGH_END)
    t = np.arange(20_000)
    survival = sbg.survival(params, t)
    discount = (1 + rate) ** -t.astype(float)
    assert sbg.discounted_expected_lifetime(params, rate) == pytest.approx(
        float(survival @ discount), rel=1e-8
    )
    for renewals in (1, 4):
        n = renewals + 1
        direct = float(survival[n:] @ discount[: len(t) - n]) / float(survival[n - 1])
        assert sbg.discounted_expected_residual_lifetime(params, rate, renewals) == pytest.approx(
            direct, rel=1e-8
        )
    # DEL = 1 + DERL(after the first renewal decision) / (1 + d)
    assert sbg.discounted_expected_lifetime(params, rate) == pytest.approx(
        1 + sbg.discounted_expected_residual_lifetime(params, rate, 0) / (1 + rate)
    )


def test_invalid_series_raise_fit_error() -> None:
    with pytest.raises(FitError):
        sbg.fit([1000, 900])
    with pytest.raises(FitError):
        sbg.fit([1000, 1100, 900])
    with pytest.raises(FitError):
        sbg.fit([1000, 1000, 1000])
