import numpy as np
import pytest

from services.scoring.domain import bgnbd
from services.scoring.domain.tracking import track

PARAMS = bgnbd.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)


def _ex(t: float) -> float:
    return float(bgnbd.expected_purchases_unconditional(PARAMS, t)) if t > 0 else 0.0


def test_one_cohort_expected_per_period_is_n_times_the_increments() -> None:
    n, origin = 40, 10_000
    got = track(PARAMS, [origin], [n], [], [], as_of_day=origin + 7 * 5, unit_days=7.0)
    assert got.n_periods == 5 and got.n_customers == n
    increments = [n * (_ex(k + 1) - _ex(k)) for k in range(5)]
    assert got.expected == pytest.approx(increments, rel=1e-12)
    assert got.cumulative_expected == pytest.approx(np.cumsum(increments), rel=1e-12)
    assert got.total_expected == pytest.approx(n * _ex(5), rel=1e-12)
    assert got.total_actual == 0 and got.actual.tolist() == [0] * 5
    assert got.first_day.tolist() == [origin + 1 + 7 * k for k in range(5)]
    assert got.last_day.tolist() == [origin + 7 * (k + 1) for k in range(5)]


def test_cohorts_start_at_their_own_first_purchase_and_the_last_period_is_partial() -> None:
    origin = 20_000
    cohorts, sizes = [origin, origin + 10], [3, 5]
    as_of = origin + 17  # periods end at +7, +14 and (partial) +17
    got = track(PARAMS, cohorts, sizes, [], [], as_of_day=as_of, unit_days=7.0)
    assert got.n_periods == 3
    cumulative = [3 * _ex(e / 7) + 5 * _ex(max(e - 10, 0) / 7) for e in (7, 14, 17)]
    assert got.cumulative_expected == pytest.approx(cumulative, rel=1e-12)
    assert got.last_day.tolist() == [origin + 7, origin + 14, as_of]


def test_actual_repeats_are_binned_by_period_end_inclusive_and_summed() -> None:
    origin = 1_000
    repeat_days = [origin + 1, origin + 7, origin + 8, origin + 14, origin + 20]
    counts = [2, 1, 4, 1, 3]
    got = track(PARAMS, [origin], [10], repeat_days, counts, as_of_day=origin + 21, unit_days=7.0)
    assert got.actual.tolist() == [3, 5, 3]
    assert got.cumulative_actual.tolist() == [3, 8, 11]
    assert got.total_actual == sum(counts)
    assert got.total_expected == pytest.approx(float(got.expected.sum()), rel=1e-12)


def test_customers_and_repeats_after_as_of_are_ignored() -> None:
    origin = 5_000
    with_late = track(
        PARAMS,
        [origin, origin + 30],
        [4, 100],
        [origin + 3, origin + 40],
        [1, 9],
        as_of_day=origin + 14,
        unit_days=7.0,
    )
    without = track(PARAMS, [origin], [4], [origin + 3], [1], as_of_day=origin + 14, unit_days=7.0)
    assert with_late.n_customers == 4
    assert with_late.total_actual == 1
    assert with_late.expected == pytest.approx(without.expected, rel=1e-12)


def test_only_the_last_periods_are_shown_but_cumulative_counts_from_the_origin() -> None:
    origin = 0
    repeats = np.arange(1, 300)
    got = track(
        PARAMS, [origin], [50], repeats, np.ones_like(repeats), 300, unit_days=1.0, max_periods=10
    )
    full = track(PARAMS, [origin], [50], repeats, np.ones_like(repeats), 300, unit_days=1.0)
    assert got.n_periods == 300 and len(got.actual) == 10 and got.periods_omitted == 290
    assert got.total_actual == full.total_actual == 299
    assert got.total_expected == pytest.approx(full.total_expected, rel=1e-12)
    assert got.cumulative_actual[0] - got.actual[0] == 290  # days 1..290, in omitted periods
    assert got.first_day.tolist() == list(range(291, 301))


def test_month_periods_use_the_mean_month() -> None:
    unit = 30.4375
    got = track(PARAMS, [0], [1], [30, 31, 61], [1, 1, 1], as_of_day=91, unit_days=unit)
    assert got.n_periods == 3
    assert got.actual.tolist() == [1, 1, 1]  # 30 ≤ 30.44 < 31 ≤ 60.88 < 61
    assert got.cumulative_expected[-1] == pytest.approx(_ex(91 / unit), rel=1e-12)


def test_nobody_to_track() -> None:
    assert track(PARAMS, [], [], [], [], as_of_day=10, unit_days=7.0).n_periods == 0
    same_day = track(PARAMS, [10], [3], [], [], as_of_day=10, unit_days=7.0)
    assert same_day.n_periods == 0 and same_day.n_customers == 3
    assert same_day.total_actual == 0 and same_day.total_expected == 0.0
