"""Repeating steps: validation, the next due time, and when a due repeat no longer holds."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.notify.domain import (
    Playbook,
    PlaybookError,
    Step,
    load_playbooks,
    parse_playbooks,
)
from services.notify.domain.keys import message_id
from services.notify.domain.repeats import Entry, NextRepeat, next_repeat, why_repeat_stops
from services.notify.settings import DEFAULT_PLAYBOOKS

T0 = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _care() -> tuple[Playbook, Step]:
    care = load_playbooks(DEFAULT_PLAYBOOKS).get("maintenance_care")
    assert care is not None
    check_in = care.step("care_check_in")
    assert check_in is not None
    return care, check_in


CARE, CHECK_IN = _care()


def _book(trigger: dict[str, Any], **step: Any) -> dict[str, Any]:
    steps = [{"name": "once", "channel": "email", "template": "t"}]
    steps.append({"name": "again", "channel": "email", "template": "t"} | step)
    return {"playbooks": [{"name": "p", "trigger": trigger, "steps": steps}]}


MAINTENANCE = {"kind": "stage_entered", "stage": "maintenance"}


def test_the_default_maintenance_care_checks_in_every_90_days_from_day_90() -> None:
    thank_you = CARE.step("thank_you")
    assert thank_you is not None
    assert (thank_you.delay, thank_you.repeat_every) == (14 * DAY, None)
    assert (CHECK_IN.delay, CHECK_IN.repeat_every) == (90 * DAY, 90 * DAY)
    assert (CHECK_IN.template, thank_you.template) == ("care_message", "loyalty_thanks")


def test_repeat_every_is_parsed_like_a_delay() -> None:
    book = parse_playbooks(_book(MAINTENANCE, repeat_every="2w"))
    assert book.playbooks[0].steps[1].repeat_every == timedelta(weeks=2)
    assert book.playbooks[0].steps[0].repeat_every is None


@pytest.mark.parametrize("every", ["23h", "0s", 3600])
def test_a_repeat_shorter_than_a_day_names_the_field(every: object) -> None:
    with pytest.raises(PlaybookError) as err:
        parse_playbooks(_book(MAINTENANCE, repeat_every=every), "book.yaml")
    assert "playbooks.0.steps.1.repeat_every" in str(err.value)
    assert "at least 1d" in str(err.value)


def test_a_bad_duration_names_the_field() -> None:
    with pytest.raises(PlaybookError) as err:
        parse_playbooks(_book(MAINTENANCE, repeat_every="quarterly"), "book.yaml")
    assert "playbooks.0.steps.1.repeat_every" in str(err.value)


@pytest.mark.parametrize(
    "trigger",
    [
        {"kind": "flag_set", "flag": "at_risk"},
        {"kind": "event", "event": "purchase"},
        {"kind": "date", "date": "birthday"},
        {"kind": "score_crossed", "score": "clv", "above": 10},
    ],
)
def test_repeats_are_only_for_stage_entered_triggers(trigger: dict[str, Any]) -> None:
    with pytest.raises(PlaybookError) as err:
        parse_playbooks(_book(trigger, repeat_every="30d"), "book.yaml")
    message = str(err.value)
    assert "playbooks.0" in message and "steps.1.repeat_every" in message
    assert "stage_entered" in message


def test_the_next_repeat_is_one_period_after_the_previous_due_time() -> None:
    handled_at = T0 + 90 * DAY + timedelta(hours=3)  # deferred or retried: the calendar holds
    assert next_repeat(CHECK_IN, T0, 0, "sent", handled_at) == NextRepeat(1, T0 + 180 * DAY)
    assert next_repeat(CHECK_IN, T0, 1, "sent", T0 + 180 * DAY) == NextRepeat(2, T0 + 270 * DAY)


@pytest.mark.parametrize("status", ["sent", "suppressed", "failed"])
def test_every_handled_outcome_continues_the_chain(status: str) -> None:
    assert next_repeat(CHECK_IN, T0, 0, status, T0 + 90 * DAY) == NextRepeat(1, T0 + 180 * DAY)


@pytest.mark.parametrize("status", ["scheduled", "sending", "deferred", "retrying", "cancelled"])
def test_no_next_repeat_while_pending_or_after_a_cancellation(status: str) -> None:
    assert next_repeat(CHECK_IN, T0, 0, status, T0 + 90 * DAY) is None


def test_a_one_off_step_has_no_next_repeat() -> None:
    thank_you = CARE.step("thank_you")
    assert thank_you is not None
    assert next_repeat(thank_you, T0, 0, "sent", T0 + 14 * DAY) is None


def test_slots_missed_while_notify_was_down_are_skipped_not_sent_in_a_burst() -> None:
    late = T0 + 400 * DAY  # repeat 1 (day 180) handled on day 400: days 270 and 360 have passed
    assert next_repeat(CHECK_IN, T0, 1, "sent", late) == NextRepeat(4, T0 + 450 * DAY)
    on_the_slot = T0 + 450 * DAY  # a slot due exactly now is past: the next one is a period on
    assert next_repeat(CHECK_IN, T0, 1, "sent", on_the_slot) == NextRepeat(5, T0 + 540 * DAY)


def test_a_repeat_holds_while_the_customer_stays_in_the_stage() -> None:
    entry = Entry(T0, "t-1")
    assert why_repeat_stops(CARE, "maintenance", entry, entry) is None
    assert why_repeat_stops(CARE, "maintenance", entry, None) is None


@pytest.mark.parametrize("stage", ["churn", "development", None])
def test_a_repeat_is_cancelled_once_the_customer_left_the_stage(stage: str | None) -> None:
    entry = Entry(T0, "t-1")
    assert why_repeat_stops(CARE, stage, entry, entry) == "left_stage:maintenance"


def test_a_newer_entry_into_the_stage_stops_the_older_chain() -> None:
    old, new = Entry(T0, "t-1"), Entry(T0 + 200 * DAY, "t-2")
    assert why_repeat_stops(CARE, "maintenance", old, new) == "superseded_by:t-2"
    assert why_repeat_stops(CARE, "maintenance", new, new) is None
    # out of the stage again: that reason comes first
    assert why_repeat_stops(CARE, "churn", old, new) == "left_stage:maintenance"


def test_entries_at_the_same_moment_keep_one_chain() -> None:
    a, b = Entry(T0, "t-a"), Entry(T0, "t-b")
    assert why_repeat_stops(CARE, "maintenance", a, b) == "superseded_by:t-b"
    assert why_repeat_stops(CARE, "maintenance", b, b) is None


def test_each_repeat_has_its_own_message_id_and_the_first_keeps_the_old_one() -> None:
    ids = {message_id("p", "c", "o", "s", n) for n in range(4)}
    assert len(ids) == 4
    assert message_id("p", "c", "o", "s", 0) == message_id("p", "c", "o", "s")
