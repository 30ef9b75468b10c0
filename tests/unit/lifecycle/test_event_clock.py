"""How far a batch moves the event-time clock of backfills."""

from datetime import UTC, datetime, timedelta

from services.lifecycle.domain.event_clock import event_time_front

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
