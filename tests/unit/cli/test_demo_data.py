"""The demo generator: deterministic, contract-valid, and as varied as real customers."""

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from clm_cli.demo_data import demo_events
from shared.events import customer_event_adapter

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return demo_events(1500, 730, seed=7, now=NOW)


def test_the_same_seed_gives_the_same_events() -> None:
    assert demo_events(200, 365, seed=3, now=NOW) == demo_events(200, 365, seed=3, now=NOW)
    assert demo_events(200, 365, seed=3, now=NOW) != demo_events(200, 365, seed=4, now=NOW)


def test_every_event_is_valid_for_ingest(events: list[dict[str, Any]]) -> None:
    for event in events:
        customer_event_adapter.validate_python(event)
    assert len({e["event_id"] for e in events}) == len(events)


def test_events_lie_in_the_span_and_come_in_time_order(events: list[dict[str, Any]]) -> None:
    moments = [datetime.fromisoformat(e["occurred_at"]) for e in events]
    assert moments == sorted(moments)
    assert min(moments) >= NOW - timedelta(days=730)
    assert max(moments) <= NOW


def test_purchase_counts_are_spread_and_some_never_buy_again(events: list[dict[str, Any]]) -> None:
    customers = {e["customer_id"] for e in events}
    purchases = Counter(e["customer_id"] for e in events if e["type"] == "purchase")
    counts = Counter(purchases.values())
    assert counts[1] > 0.15 * len(purchases)  # one purchase and gone (BG/NBD dropout)
    assert sum(n for k, n in counts.items() if k >= 10) > 0.02 * len(purchases)  # loyal buyers
    assert len(counts) >= 10
    assert 0.05 < (len(customers) - len(purchases)) / len(customers) < 0.25  # prospects


def test_spend_varies_between_customers(events: list[dict[str, Any]]) -> None:
    totals: dict[str, float] = defaultdict(float)
    for e in events:
        if e["type"] == "purchase":
            totals[e["customer_id"]] += float(e["data"]["amount"])
    ranked = sorted(totals.values())
    assert ranked[-1] > 20 * ranked[len(ranked) // 2]  # a long tail of big buyers


def test_profiles_have_both_locales_time_zones_birthdays_and_consent(
    events: list[dict[str, Any]],
) -> None:
    profiles = [e["data"] for e in events if e["type"] == "profile" and "locale" in e["data"]]
    locales = Counter(p["locale"] for p in profiles)
    assert set(locales) == {"zh-CN", "en"}
    assert min(locales.values()) > 0.25 * len(profiles)
    assert len({p["timezone"] for p in profiles}) >= 4
    assert 0.7 < sum("birthday" in p for p in profiles) / len(profiles) < 1
    assert {p["consent"]["email"] for p in profiles} == {True, False}


def test_complaints_open_and_some_are_resolved(events: list[dict[str, Any]]) -> None:
    complaints = [e for e in events if e["type"] == "complaint"]
    status = Counter(e["data"]["status"] for e in complaints)
    assert status["opened"] > 0 and 0 < status["resolved"] < status["opened"]
    opened = {
        e["data"]["ticket_id"]: e["occurred_at"]
        for e in complaints
        if e["data"]["status"] == "opened"
    }
    for e in complaints:
        if e["data"]["status"] == "resolved":
            ticket = e["data"]["ticket_id"]
            assert datetime.fromisoformat(e["occurred_at"]) >= datetime.fromisoformat(
                opened[ticket]
            )


def test_contacts_use_several_channels(events: list[dict[str, Any]]) -> None:
    contacts = [e["data"] for e in events if e["type"] == "contact"]
    assert len({c["channel"] for c in contacts}) >= 4
    assert {c["direction"] for c in contacts} == {"inbound", "outbound"}


def test_a_naive_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        demo_events(1, 10, seed=1, now=datetime(2026, 1, 1))
