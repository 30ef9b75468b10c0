"""Model fit diagnostics: actual against expected repeat purchases per period (the BG/NBD
tracking plot, Fader, Hardie & Lee 2005, fig. 2).

Days are day numbers (days since 1970-01-01, business calendar days), as in the occasion table.

- origin = the earliest first purchase day up to ``as_of``; periods are ``unit_days`` long
  and period k holds the days d with origin + k·u < d ≤ origin + (k+1)·u, clipped to the
  day of ``as_of`` (the last period may be partial). Half-open on the left because a repeat
  occasion on day d is at time d − first in the model's convention (recency), so a repeat
  one unit after the first purchase belongs to the first period, as E[X(1)] does.
- actual: repeat occasions (calendar days after each customer's first occasion) per period.
- expected: for a customer first buying on day s, the expected cumulative repeat purchases by
  time t are E[X((t − s)/u)] (unconditional, eq. 9); summed over customers at every period
  end and differenced between consecutive period ends.
- At most ``max_periods`` periods are returned: the LAST ones (the most recent behaviour is
  what a fit is judged on); the cumulative series still count from the origin, so their last
  values are the totals over the whole history, and the earlier periods' sums are reported.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.scoring.domain import bgnbd

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MAX_PERIODS = 104  # two years of weeks: a readable chart, and a bounded answer for day units


@dataclass(frozen=True)
class Tracking:
    """Per shown period: its first and last calendar day, actual and expected repeat
    purchases, and the cumulative sums from the origin up to its end."""

    origin_day: int | None
    unit_days: float
    n_customers: int
    n_periods: int  # periods from the origin to as_of, shown or not
    first_day: IntArray
    last_day: IntArray
    actual: IntArray
    expected: FloatArray
    cumulative_actual: IntArray
    cumulative_expected: FloatArray

    @property
    def periods_omitted(self) -> int:
        return self.n_periods - len(self.actual)

    @property
    def total_actual(self) -> int:
        return int(self.cumulative_actual[-1]) if len(self.cumulative_actual) else 0

    @property
    def total_expected(self) -> float:
        return float(self.cumulative_expected[-1]) if len(self.cumulative_expected) else 0.0


def track(
    params: bgnbd.BgNbdParams,
    cohort_days: npt.ArrayLike,
    cohort_sizes: npt.ArrayLike,
    repeat_days: npt.ArrayLike,
    repeat_counts: npt.ArrayLike,
    as_of_day: int,
    unit_days: float,
    max_periods: int = MAX_PERIODS,
) -> Tracking:
    """Tracking series from customers counted per first-purchase day (cohorts) and repeat
    occasions counted per day; days after ``as_of_day`` are ignored."""
    if unit_days <= 0 or max_periods < 1:
        raise ValueError("unit_days must be positive and max_periods at least 1")
    first = np.asarray(cohort_days, dtype=np.int64).ravel()
    sizes = np.asarray(cohort_sizes, dtype=np.float64).ravel()
    r_days = np.asarray(repeat_days, dtype=np.int64).ravel()
    r_counts = np.asarray(repeat_counts, dtype=np.int64).ravel()
    if len(first) != len(sizes) or len(r_days) != len(r_counts):
        raise ValueError("days and counts must have the same length")
    keep = (first <= as_of_day) & (sizes > 0)
    first, sizes = first[keep], sizes[keep]
    keep_repeats = r_days <= as_of_day
    r_days, r_counts = r_days[keep_repeats], r_counts[keep_repeats]
    if len(first) == 0:
        return _empty(None, unit_days, 0)
    origin = int(first.min())
    n_customers = round(float(sizes.sum()))
    n_periods = int(np.ceil((as_of_day - origin) / unit_days))
    if n_periods <= 0:  # everybody bought first on as_of's day: nothing to track yet
        return _empty(origin, unit_days, n_customers)

    k = np.arange(n_periods)
    ends = np.minimum(origin + (k + 1) * unit_days, float(as_of_day))
    # A repeat day is after its customer's first day, hence after the origin: index >= 0.
    index = np.clip(np.ceil((r_days - origin) / unit_days).astype(np.int64) - 1, 0, n_periods - 1)
    actual = np.bincount(index, weights=r_counts, minlength=n_periods).astype(np.int64)

    ages = np.maximum(ends[None, :] - first[:, None], 0.0) / unit_days  # cohorts × periods
    # Ages repeat a lot (whole days over a fixed grid): 2F1 once per distinct age.
    distinct, inverse = np.unique(ages, return_inverse=True)
    values = np.zeros_like(distinct)
    positive = distinct > 0
    values[positive] = bgnbd.expected_purchases_unconditional(params, distinct[positive])
    cumulative_expected = sizes @ values[inverse.reshape(ages.shape)]
    expected = np.diff(cumulative_expected, prepend=0.0)
    cumulative_actual = np.cumsum(actual)

    shown = slice(max(n_periods - max_periods, 0), n_periods)
    first_day = np.floor(origin + k * unit_days).astype(np.int64) + 1
    last_day = np.floor(ends).astype(np.int64)
    return Tracking(
        origin_day=origin,
        unit_days=unit_days,
        n_customers=n_customers,
        n_periods=n_periods,
        first_day=first_day[shown],
        last_day=last_day[shown],
        actual=actual[shown],
        expected=expected[shown],
        cumulative_actual=cumulative_actual[shown],
        cumulative_expected=cumulative_expected[shown],
    )


def _empty(origin: int | None, unit_days: float, n_customers: int) -> Tracking:
    ints, floats = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    return Tracking(origin, unit_days, n_customers, 0, ints, ints, ints, floats, ints, floats)
