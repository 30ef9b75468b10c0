"""The interval methods against published and independently computed cases."""

import math

import pytest
from scipy.stats import ttest_ind

from services.notify.domain.uplift_stats import Sample, newcombe, welch, wilson


def test_wilson_matches_the_published_values() -> None:
    # Newcombe (1998), Statistics in Medicine 17:857-872, table I: 0/10 -> 0 to 0.2775.
    low, high = wilson(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=5e-5)
    low, high = wilson(81, 263)  # 0.3080 -> 0.2553 to 0.3662
    assert (low, high) == (pytest.approx(0.2553, abs=5e-5), pytest.approx(0.3662, abs=5e-5))


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # Newcombe (1998) table II, method 10 (score interval, no continuity correction)
        ((56, 70, 48, 80), (0.2, 0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.6, 0.1705, 0.8090)),
        ((5, 56, 0, 29), (0.0893, -0.0381, 0.1926)),
    ],
)
def test_newcombe_matches_the_published_values(
    counts: tuple[int, int, int, int], expected: tuple[float, float, float]
) -> None:
    found = newcombe(*counts)
    assert found is not None
    assert (found.estimate, found.low, found.high) == (
        pytest.approx(expected[0], abs=5e-5),
        pytest.approx(expected[1], abs=5e-5),
        pytest.approx(expected[2], abs=5e-5),
    )


def test_an_empty_arm_has_no_interval() -> None:
    assert newcombe(3, 10, 0, 0) is None
    assert welch(Sample.of([1.0, 2.0]), Sample.of([1.0])) is None


def test_welch_equals_scipys_unequal_variance_interval() -> None:
    treated, control = [1.0, 2.0, 3.0, 4.0, 10.0], [0.0, 1.0, 1.0, 2.0]
    found = welch(Sample.of(treated), Sample.of(control))
    expected = ttest_ind(treated, control, equal_var=False).confidence_interval(0.95)
    assert found is not None
    assert found.estimate == pytest.approx(3.0)
    assert (found.low, found.high) == (
        pytest.approx(float(expected.low), rel=1e-9),
        pytest.approx(float(expected.high), rel=1e-9),
    )
    assert not found.significant


def test_welch_with_no_spread_is_exact() -> None:
    found = welch(Sample.of([5.0, 5.0, 5.0]), Sample.of([2.0, 2.0]))
    assert found is not None and (found.low, found.estimate, found.high) == (3.0, 3.0, 3.0)
    assert found.significant


def test_a_sample_keeps_its_mean_and_unbiased_variance() -> None:
    s = Sample.of([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])
    assert s.mean == 5.0
    assert math.isclose(s.variance, 32 / 7)
