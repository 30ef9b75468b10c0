"""How far a batch moves the event-time clock of backfills, and the moment a customer is
derived at."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from services.lifecycle.domain import CustomerFacts, DomainEvent, EventType, apply_all
from services.lifecycle.domain.event_clock import (
    PartitionClock,
    customer_moment,
    event_time_front,
    low_watermark,
)

WALL = datetime(2026, 12, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_the_clock_moves_to_the_latest_event_of_the_batch():
    times = [datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 5, 1, tzinfo=UTC)]
    assert event_time_front(times, WALL, HOUR) == datetime(2024, 5, 1, tzinfo=UTC)


def test_an_event_beyond_the_wall_clock_and_skew_is_left_out():
    times = [datetime(2024, 3, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)]
    assert event_time_front(times, WALL, HOUR) == datetime(2024, 3, 1, tzinfo=UTC)


def test_within_the_skew_counts_and_only_future_events_move_nothing():
    assert event_time_front([WALL + HOUR], WALL, HOUR) == WALL + HOUR
    assert event_time_front([WALL + 2 * HOUR], WALL, HOUR) is None


def _at(day: int) -> datetime:
    return datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=day)


def test_the_clock_waits_for_the_partition_that_is_furthest_behind():
    clocks = [PartitionClock(0, _at(200), False), PartitionClock(1, _at(10), False)]
    assert low_watermark(clocks) == _at(10)


def test_a_partition_read_to_its_end_does_not_hold_the_clock_back():
    clocks = [PartitionClock(0, _at(200), False), PartitionClock(1, _at(10), True)]
    assert low_watermark(clocks) == _at(200)


def test_once_every_partition_is_read_the_clock_moves_to_the_latest_event():
    clocks = [PartitionClock(0, _at(200), True), PartitionClock(1, _at(10), True)]
    assert low_watermark(clocks) == _at(200)
    assert low_watermark([PartitionClock(0, None, True)]) is None


def test_a_partition_with_a_backlog_and_nothing_read_yet_holds_the_clock():
    clocks = [PartitionClock(0, _at(200), False), PartitionClock(1, None, False)]
    assert low_watermark(clocks) is None


def test_a_customer_is_derived_at_its_own_latest_purchase_when_the_clock_is_behind():
    facts = apply_all(
        CustomerFacts("c"),
        [
            DomainEvent("e1", EventType.PURCHASE, "c", _at(30), {"amount": Decimal(10)}),
            DomainEvent("e2", EventType.PURCHASE, "c", _at(90), {"amount": Decimal(10)}),
        ],
    )
    assert customer_moment(_at(10), facts, WALL) == _at(90)
    assert customer_moment(_at(120), facts, WALL) == _at(120)  # the clock, once it is later
    assert customer_moment(_at(10), facts, _at(60)) == _at(30)  # past the limit: left out


def test_a_score_reading_does_not_carry_the_customer_past_the_clock():
    reading = DomainEvent("s1", EventType.SCORE, "c", WALL, {"churn_risk": 0.5})
    facts = apply_all(CustomerFacts("c"), [reading])
    assert customer_moment(_at(10), facts, WALL + HOUR) == _at(10)
