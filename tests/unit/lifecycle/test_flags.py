from datetime import UTC, datetime

from services.lifecycle.domain.stages import Flag, Reason
from services.lifecycle.domain.transitions import CLOCK
from tests.unit.lifecycle.story import Story, day, days_until


def flag_rows(state, flag):
    return [
        (t.flag_value, t.occurred_at, t.reason, t.cause_event_id)
        for t in state.history
        if t.kind == "flag" and t.flag is flag
    ]


# --- at_risk -------------------------------------------------------------------------------


def test_at_risk_after_the_floor_when_the_usual_gap_is_unknown():
    story = Story()
    story.purchase(0)
    assert Flag.AT_RISK not in story.at(59.9).flags
    state = story.at(60)
    assert Flag.AT_RISK in state.flags
    assert flag_rows(state, Flag.AT_RISK) == [
        (True, day(60), Reason.INACTIVE_BEYOND_USUAL_GAP, CLOCK)
    ]


def test_at_risk_after_three_times_the_usual_gap():
    story = Story()
    for n in (0, 30, 60):
        story.purchase(n)
    # median gap 30 days -> 90 days after the last purchase
    assert Flag.AT_RISK not in story.at(149.9).flags
    assert flag_rows(story.at(150), Flag.AT_RISK) == [
        (True, day(150), Reason.INACTIVE_BEYOND_USUAL_GAP, CLOCK)
    ]


def test_the_floor_applies_when_the_usual_gap_is_short():
    story = Story()
    for n in (0, 5, 10):
        story.purchase(n)
    assert flag_rows(story.at(100), Flag.AT_RISK)[0][1] == day(70)


def test_at_risk_is_cleared_when_activity_resumes():
    story = Story()
    story.purchase(0)
    story.purchase(70, event_id="back")
    state = story.at(71)
    assert Flag.AT_RISK not in state.flags
    assert flag_rows(state, Flag.AT_RISK) == [
        (True, day(60), Reason.INACTIVE_BEYOND_USUAL_GAP, CLOCK),
        (False, day(70), Reason.ACTIVITY_RESUMED, "back"),
    ]


def test_at_risk_by_two_complaints_within_30_days_until_they_age_out():
    story = Story()
    story.purchase(0)
    story.complaint(10)
    story.complaint(20, event_id="second")
    assert Flag.AT_RISK not in story.at(19).flags
    assert Flag.AT_RISK in story.at(20).flags
    state = story.at(45)
    assert flag_rows(state, Flag.AT_RISK) == [
        (True, day(20), Reason.COMPLAINTS, "second"),
        (False, day(40), Reason.COMPLAINTS_SUBSIDED, CLOCK),
    ]


def test_complaints_further_apart_than_the_window_do_not_raise_risk():
    story = Story()
    story.purchase(0)
    story.complaint(10)
    story.complaint(40)
    assert flag_rows(story.at(50), Flag.AT_RISK) == []


def test_events_of_one_ticket_count_as_one_complaint():
    story = Story()
    story.purchase(0)
    story.complaint(10, ticket_id="T-1")
    story.complaint(12, ticket_id="T-1")
    assert Flag.AT_RISK not in story.at(13).flags


def test_at_risk_by_churn_risk_score_above_threshold():
    story = Story()
    story.purchase(0)
    story.score(5, 0.7)
    story.score(10, 0.8, event_id="high")
    story.score(20, 0.3, event_id="low")
    state = story.at(25)
    assert flag_rows(state, Flag.AT_RISK) == [
        (True, day(10), Reason.CHURN_RISK_SCORE, "high"),
        (False, day(20), Reason.CHURN_RISK_LOWERED, "low"),
    ]
    assert state.churn_risk == 0.3


def test_at_risk_stays_while_any_signal_remains():
    story = Story()
    story.purchase(0)
    story.score(10, 0.9)
    story.purchase(65, event_id="back")
    state = story.at(66)
    assert Flag.AT_RISK in state.flags
    assert [row[0] for row in flag_rows(state, Flag.AT_RISK)] == [True]


def test_churn_clears_at_risk():
    story = Story()
    story.purchase(0)
    state = story.at(200)
    assert Flag.AT_RISK not in state.flags
    assert flag_rows(state, Flag.AT_RISK)[-1] == (False, day(180), Reason.CHURNED, CLOCK)


def test_prospects_are_not_flagged_at_risk():
    story = Story()
    story.contact(0)
    story.complaint(1)
    story.complaint(2)
    assert story.at(3).flags == frozenset()


# --- upgrade_candidate ---------------------------------------------------------------------


def _quarterly_buyer(amounts: list[str]) -> Story:
    story = Story()
    for month, amount in zip((1, 4, 7), amounts, strict=True):
        story.purchase(days_until(datetime(2024, month, 15, tzinfo=UTC)), amount=amount)
    return story


def test_upgrade_candidate_after_two_quarters_of_20_percent_growth():
    story = _quarterly_buyer(["100", "120", "144"])
    q4 = days_until(datetime(2024, 10, 1, tzinfo=UTC))
    assert Flag.UPGRADE_CANDIDATE not in story.at(q4 - 0.001).flags
    state = story.at(q4)
    assert Flag.UPGRADE_CANDIDATE in state.flags
    # Q4 without purchases: the growth stops and so does the flag.
    later = story.at(days_until(datetime(2025, 1, 2, tzinfo=UTC)))
    assert flag_rows(later, Flag.UPGRADE_CANDIDATE) == [
        (True, datetime(2024, 10, 1, tzinfo=UTC), Reason.SPEND_GROWTH, CLOCK),
        (False, datetime(2025, 1, 1, tzinfo=UTC), Reason.UPGRADE_SIGNAL_EXPIRED, CLOCK),
    ]


def test_growth_below_20_percent_is_no_upgrade_signal():
    story = _quarterly_buyer(["100", "120", "143"])
    assert (
        flag_rows(story.at(days_until(datetime(2024, 12, 1, tzinfo=UTC))), Flag.UPGRADE_CANDIDATE)
        == []
    )


def test_upgrade_candidate_when_buying_a_new_category_for_a_quarter():
    story = Story()
    story.purchase(0, category="paper")
    story.purchase(0.2, category="ink")  # same day as the first: not new
    story.purchase(20, category="paper")
    story.purchase(30, category="toner", event_id="toner")
    state = story.at(200)
    assert flag_rows(state, Flag.UPGRADE_CANDIDATE) == [
        (True, day(30), Reason.NEW_CATEGORY, "toner"),
        (False, day(120), Reason.UPGRADE_SIGNAL_EXPIRED, CLOCK),
    ]
