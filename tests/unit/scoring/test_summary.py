from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from services.scoring.domain.summary import collapse, summarise, summarise_customer


def test_same_day_orders_are_one_occasion_with_amounts_summed() -> None:
    result = summarise(
        ["c1", "c1", "c1", "c1"],
        [
            datetime(2024, 1, 1, 9),
            datetime(2024, 1, 1, 18),
            datetime(2024, 1, 8, 10),
            datetime(2024, 1, 8, 11),
        ],
        [10.0, 5.0, 20.0, 4.0],
        as_of=datetime(2024, 1, 15),
        time_unit="day",
    )
    assert result.frequency.tolist() == [1]
    assert result.recency.tolist() == [7.0]
    assert result.age.tolist() == [14.0]
    assert result.monetary.tolist() == [24.0]  # the repeat occasion only, both orders summed
    assert result.total_spend.tolist() == [39.0]


def test_purchases_after_as_of_are_ignored_and_as_of_day_counts() -> None:
    as_of = datetime(2024, 3, 1, 12)
    result = summarise(
        [1, 1, 1, 2],
        [
            datetime(2024, 2, 1),
            datetime(2024, 3, 1, 11),
            datetime(2024, 3, 1, 13),
            datetime(2024, 3, 2),
        ],
        [1.0, 2.0, 100.0, 5.0],
        as_of=as_of,
        time_unit="day",
    )
    assert result.customer_ids.tolist() == [1]  # customer 2 has not bought by as_of
    assert result.frequency.tolist() == [1]
    assert result.recency.tolist() == result.age.tolist() == [29.0]
    assert result.monetary.tolist() == [2.0]


def test_one_time_buyer_has_zero_frequency_recency_and_monetary() -> None:
    result = summarise([7], [datetime(2024, 1, 1)], [50.0], datetime(2024, 1, 29), "week")
    assert (result.frequency[0], result.recency[0], result.monetary[0]) == (0, 0.0, 0.0)
    assert result.age[0] == 4.0


@pytest.mark.parametrize(
    ("unit", "expected_age"), [("day", 61.0), ("week", 61 / 7), ("month", 61 / 30.4375)]
)
def test_time_units(unit: str, expected_age: float) -> None:
    result = summarise([1], [datetime(2024, 1, 1)], [1.0], datetime(2024, 3, 2), unit)  # type: ignore[arg-type]
    assert result.age[0] == pytest.approx(expected_age)


def test_unknown_time_unit_is_rejected() -> None:
    with pytest.raises(ValueError, match="time_unit"):
        summarise([1], [datetime(2024, 1, 1)], [1.0], datetime(2024, 3, 2), "year")  # type: ignore[arg-type]


def test_aware_timestamps_are_read_in_utc() -> None:
    tokyo = timezone(timedelta(hours=9))
    # 2024-01-02 08:00 in Tokyo is 2024-01-01 23:00 UTC: the same UTC day as the first order
    result = summarise(
        [1, 1],
        np.array([datetime(2024, 1, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, 8, tzinfo=tokyo)]),
        [1.0, 2.0],
        datetime(2024, 1, 10, tzinfo=UTC),
        "day",
    )
    assert result.frequency.tolist() == [0]
    assert result.total_spend.tolist() == [3.0]


def test_cdnow_transactions_reproduce_the_published_summary(
    cdnow_transactions: np.ndarray, cdnow_summary: np.ndarray
) -> None:
    days = cdnow_transactions[:, 2]
    dates = np.array([f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in days], dtype="datetime64[D]")
    result = summarise(
        cdnow_transactions[:, 1].astype(int),
        dates,
        cdnow_transactions[:, 4].astype(float),
        as_of=np.datetime64("1997-09-30T23:59"),
        time_unit="week",
    )
    assert result.customer_ids.tolist() == cdnow_summary["ID"].astype(int).tolist()
    assert np.array_equal(result.frequency, cdnow_summary["x"])
    # the published file is rounded to two decimals
    assert np.max(np.abs(result.recency - cdnow_summary["t_x"])) <= 0.005
    assert np.max(np.abs(result.age - cdnow_summary["T"])) <= 0.005
    assert np.max(np.abs(result.monetary - cdnow_summary["zbar"])) <= 0.005 + 1e-9


def test_single_customer_matches_the_population_version() -> None:
    purchases = [
        (datetime(2024, 1, 3, 10), 10.0),
        (datetime(2024, 1, 3, 15), 2.0),
        (datetime(2024, 2, 1), 30.0),
        (datetime(2024, 3, 5), 40.0),
    ]
    one = summarise_customer(purchases, datetime(2024, 3, 1), "week")
    assert (one.occasions, one.frequency) == (2, 1)
    assert one.recency == pytest.approx(29 / 7)
    assert one.age == pytest.approx(58 / 7)
    assert one.monetary == 30.0
    assert one.total_spend == 42.0


def test_customer_without_purchases() -> None:
    assert summarise_customer([], datetime(2024, 3, 1)).occasions == 0
    late = summarise_customer([(datetime(2024, 4, 1), 1.0)], datetime(2024, 3, 1))
    assert late.occasions == 0


def test_collapse_counts_identical_rows_and_maps_back() -> None:
    x = np.array([0, 1, 0, 1, 2, 0])
    t_x = np.array([0.0, 3.0, 0.0, 3.0, 5.0, 0.0])
    big_t = np.array([10.0, 10.0, 10.0, 10.0, 10.0, 12.0])
    rows = collapse(x, t_x, big_t)
    assert rows.weights.sum() == len(x)
    assert len(rows.weights) == 4
    assert np.array_equal(rows.frequency[rows.inverse], x)
    assert np.array_equal(rows.recency[rows.inverse], t_x)
    assert np.array_equal(rows.age[rows.inverse], big_t)
