"""Per-customer sufficient statistics (x, t_x, T, monetary) in the BTYD conventions.

- A purchase occasion is a calendar day: several orders of one customer on one day are one
  occasion, their amounts summed. Timestamps are read in UTC (aware datetimes are converted
  to UTC first, naive ones are taken as UTC).
- Only purchases with ``occurred_at <= as_of`` count.
- frequency x = repeat occasions (occasions - 1).
- recency t_x = first occasion -> last occasion; age T = first occasion -> the calendar day
  of ``as_of``; both in days divided by the days of one ``time_unit``.
- monetary = mean value of the repeat occasions (0 when x == 0), the Gamma-Gamma input.
- Customers without any purchase up to ``as_of`` are not in the BTYD population and are
  left out.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import numpy.typing as npt

TimeUnit = Literal["day", "week", "month"]

# A month is the mean Gregorian month, 365.25 / 12 = 30.4375 days.
DAYS_PER_UNIT: dict[str, float] = {"day": 1.0, "week": 7.0, "month": 30.4375}

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class CustomerSummary:
    """One row per customer with at least one purchase occasion up to ``as_of``."""

    customer_ids: npt.NDArray[np.generic]
    frequency: IntArray
    recency: FloatArray
    age: FloatArray
    monetary: FloatArray
    total_spend: FloatArray

    @property
    def time_since_last_purchase(self) -> FloatArray:
        return self.age - self.recency

    def __len__(self) -> int:
        return len(self.frequency)


@dataclass(frozen=True)
class CustomerStatistics:
    """The same statistics for one customer; ``occasions == 0`` means no purchase yet."""

    occasions: int
    frequency: int
    recency: float
    age: float
    monetary: float
    total_spend: float

    @property
    def time_since_last_purchase(self) -> float:
        return self.age - self.recency


@dataclass(frozen=True)
class CollapsedSummary:
    """Unique (x, t_x, T) rows with their counts; ``inverse`` maps input rows to them."""

    frequency: IntArray
    recency: FloatArray
    age: FloatArray
    weights: FloatArray
    inverse: IntArray


def days_per_unit(time_unit: TimeUnit | str) -> float:
    try:
        return DAYS_PER_UNIT[time_unit]
    except KeyError:
        raise ValueError(
            f"time_unit must be one of {sorted(DAYS_PER_UNIT)}, not {time_unit!r}"
        ) from None


def to_utc_datetime64(values: npt.ArrayLike | Sequence[datetime]) -> npt.NDArray[np.datetime64]:
    array = np.asarray(values)
    if array.dtype.kind == "M":
        return array.astype("datetime64[us]")
    if array.dtype == object:
        naive = [_as_naive_utc(value) for value in array.ravel()]
        return np.array(naive, dtype="datetime64[us]").reshape(array.shape)
    return array.astype("datetime64[us]")


def _as_naive_utc(value: object) -> object:
    if not isinstance(value, datetime) or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _calendar_day(value: npt.NDArray[np.datetime64]) -> np.int64:
    return np.int64(value.astype("datetime64[D]").astype(np.int64)[0])


def summarise(
    customer_ids: npt.ArrayLike,
    occurred_at: npt.ArrayLike | Sequence[datetime],
    amounts: npt.ArrayLike,
    as_of: datetime | np.datetime64,
    time_unit: TimeUnit = "week",
) -> CustomerSummary:
    """Sufficient statistics of every customer from a flat list of orders."""
    unit_days = days_per_unit(time_unit)
    ids = np.asarray(customer_ids)
    timestamps = to_utc_datetime64(occurred_at)
    values = np.asarray(amounts, dtype=np.float64)
    if not (len(ids) == len(timestamps) == len(values)):
        raise ValueError("customer_ids, occurred_at and amounts must have the same length")
    as_of_us = to_utc_datetime64(np.array([as_of], dtype=object))[0:1]
    keep = timestamps <= as_of_us[0]
    ids, timestamps, values = ids[keep], timestamps[keep], values[keep]
    as_of_day = _calendar_day(as_of_us)

    if len(ids) == 0:
        empty = np.zeros(0)
        return CustomerSummary(ids, np.zeros(0, dtype=np.int64), empty, empty, empty, empty)
    unique_ids, customer = np.unique(ids, return_inverse=True)
    customer = customer.ravel().astype(np.int64)
    day = timestamps.astype("datetime64[D]").astype(np.int64)

    order = np.lexsort((day, customer))
    customer, day, values = customer[order], day[order], values[order]
    starts = np.flatnonzero(np.r_[True, (customer[1:] != customer[:-1]) | (day[1:] != day[:-1])])
    occasion_customer = customer[starts]
    occasion_day = day[starts]
    occasion_value = np.add.reduceat(values, starts)

    n_customers = len(unique_ids)
    occasions = np.bincount(occasion_customer, minlength=n_customers).astype(np.int64)
    first_index = np.cumsum(occasions) - occasions
    last_index = first_index + occasions - 1
    total = np.bincount(occasion_customer, weights=occasion_value, minlength=n_customers)
    first_day = occasion_day[first_index]
    last_day = occasion_day[last_index]
    frequency = occasions - 1
    repeat_spend = total - occasion_value[first_index]
    monetary = np.divide(repeat_spend, frequency, out=np.zeros(n_customers), where=frequency > 0)
    return CustomerSummary(
        customer_ids=unique_ids,
        frequency=frequency,
        recency=(last_day - first_day) / unit_days,
        age=(as_of_day - first_day) / unit_days,
        monetary=monetary,
        total_spend=total.astype(np.float64),
    )


def summarise_customer(
    purchases: Sequence[tuple[datetime | np.datetime64, float]],
    as_of: datetime | np.datetime64,
    time_unit: TimeUnit = "week",
) -> CustomerStatistics:
    """Statistics of one customer from its (occurred_at, amount) pairs, for online scoring."""
    if purchases:
        times = [when for when, _ in purchases]
        summary = summarise(
            np.zeros(len(purchases), dtype=np.int64),
            to_utc_datetime64(np.array(times, dtype=object)),
            [amount for _, amount in purchases],
            as_of,
            time_unit,
        )
        if len(summary):
            return CustomerStatistics(
                occasions=int(summary.frequency[0]) + 1,
                frequency=int(summary.frequency[0]),
                recency=float(summary.recency[0]),
                age=float(summary.age[0]),
                monetary=float(summary.monetary[0]),
                total_spend=float(summary.total_spend[0]),
            )
    return CustomerStatistics(0, 0, 0.0, 0.0, 0.0, 0.0)


def collapse(
    frequency: npt.ArrayLike, recency: npt.ArrayLike, age: npt.ArrayLike
) -> CollapsedSummary:
    """Merge identical (x, t_x, T) rows into weighted unique rows (fits scale with them)."""
    x = np.asarray(frequency, dtype=np.int64)
    t_x = np.asarray(recency, dtype=np.float64)
    big_t = np.asarray(age, dtype=np.float64)
    if len(x) == 0:
        empty = np.zeros(0)
        return CollapsedSummary(x, empty, empty, empty, np.zeros(0, dtype=np.int64))
    order = np.lexsort((big_t, t_x, x))
    xs, ts, bigs = x[order], t_x[order], big_t[order]
    new_row = np.r_[True, (xs[1:] != xs[:-1]) | (ts[1:] != ts[:-1]) | (bigs[1:] != bigs[:-1])]
    starts = np.flatnonzero(new_row)
    group = np.cumsum(new_row) - 1
    inverse = np.empty_like(group)
    inverse[order] = group
    counts = np.diff(np.r_[starts, len(xs)]).astype(np.float64)
    return CollapsedSummary(xs[starts], ts[starts], bigs[starts], counts, inverse)
