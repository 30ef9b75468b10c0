from services.ingest.recent_ids import RecentEventIds


def test_remembers_ids_within_capacity_and_forgets_the_oldest() -> None:
    recent = RecentEventIds(capacity=3)
    recent.remember(["a", "b", "c"])
    recent.remember(["d"])
    assert "a" not in recent
    assert all(i in recent for i in "bcd")
    assert len(recent) == 3
