from datetime import UTC, datetime

from services.lifecycle.domain.engine import derive, next_due
from tests.unit.lifecycle.story import DEFAULT_RULES, Story, day, days_until


def due_at(story: Story, when: float):
    facts = story.facts()
    now = day(when)
    return next_due(facts, DEFAULT_RULES, derive(facts, DEFAULT_RULES, now), now)


def test_prospect_is_due_for_early_abort():
    story = Story()
    story.contact(0)
    assert due_at(story, 1) == day(90)


def test_customer_is_due_for_at_risk_then_churn_then_nothing():
    story = Story()
    story.purchase(0)
    assert due_at(story, 1) == day(60)
    assert due_at(story, 60) == day(180)
    assert due_at(story, 180) is None


def test_complaints_are_due_to_age_out():
    story = Story()
    story.purchase(0)
    story.complaint(10)
    story.complaint(20)
    assert due_at(story, 21) == day(40)


def test_a_tier_is_due_to_decay():
    story = Story()
    story.purchase(0, amount="2000000")
    assert due_at(story, 200) == day(365)


def test_long_lasting_is_due_after_the_tenure():
    story = Story()
    for n in range(0, 760, 20):
        story.purchase(n)
    assert due_at(story, 741) == day(40 + 730)


def test_a_quarter_boundary_is_due_when_growth_changes_the_flag():
    story = Story()
    for month, amount in ((1, "100"), (4, "120"), (7, "150")):
        story.purchase(days_until(datetime(2024, month, 15, tzinfo=UTC)), amount=amount)
    now = days_until(datetime(2024, 8, 1, tzinfo=UTC))
    assert due_at(story, now) == datetime(2024, 10, 1, tzinfo=UTC)


def test_a_future_dated_event_is_due_when_it_happens():
    story = Story()
    story.purchase(0)
    story.purchase(30)
    assert due_at(story, 10) == day(30)


def test_next_due_recomputes_for_another_moment():
    story = Story()
    story.purchase(0)
    facts = story.facts()
    state = derive(facts, DEFAULT_RULES, day(1))
    assert next_due(facts, DEFAULT_RULES, state, day(61)) == day(180)


def test_signals_that_do_not_change_the_state_are_skipped():
    story = Story()
    story.purchase(0)
    story.score(1, 0.9)
    # already at risk by score: the usual-gap signal at day 60 changes nothing visible
    assert due_at(story, 2) == day(180)
