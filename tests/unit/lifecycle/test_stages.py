from datetime import timedelta
from decimal import Decimal

from services.lifecycle.domain.engine import derive
from services.lifecycle.domain.stages import LifecyclePattern, Reason, Stage
from services.lifecycle.domain.transitions import CLOCK
from tests.unit.lifecycle.story import DEFAULT_RULES, Story, day

MICROSECOND = timedelta(microseconds=1)


def stage_rows(state):
    return [
        (t.from_stage, t.to_stage, t.reason, t.cause_event_id)
        for t in state.history
        if t.kind == "stage"
    ]


def test_a_known_contact_who_has_not_bought_is_in_acquisition():
    story = Story()
    story.contact(0)
    state = story.at(10)
    assert state.stage is Stage.ACQUISITION
    assert state.stage_since == day(0)
    assert state.first_seen_at == day(0)
    assert stage_rows(state) == [(None, Stage.ACQUISITION, Reason.FIRST_CONTACT, "contact-1")]
    assert state.lifecycle_pattern is None


def test_first_purchase_moves_to_development():
    story = Story()
    story.contact(0)
    story.purchase(5, event_id="p1")
    state = story.at(6)
    assert state.stage is Stage.DEVELOPMENT
    assert state.stage_since == day(5)
    assert state.first_purchase_at == day(5)
    assert stage_rows(state) == [
        (None, Stage.ACQUISITION, Reason.FIRST_CONTACT, "contact-1"),
        (Stage.ACQUISITION, Stage.DEVELOPMENT, Reason.FIRST_PURCHASE, "p1"),
    ]


def test_a_purchase_alone_makes_a_customer_seen_and_developing():
    story = Story()
    story.purchase(0, event_id="p1")
    state = story.at(0)
    assert state.first_seen_at == day(0)
    assert state.stage is Stage.DEVELOPMENT


def test_three_occasions_within_180_days_move_to_maintenance():
    story = Story()
    story.purchase(0)
    story.purchase(90)
    story.purchase(180, event_id="third")
    state = story.at(181)
    assert state.stage is Stage.MAINTENANCE
    assert state.stage_since == day(180)
    assert stage_rows(state)[-1] == (
        Stage.DEVELOPMENT,
        Stage.MAINTENANCE,
        Reason.REPEAT_PURCHASES,
        "third",
    )


def test_occasions_spread_over_more_than_180_days_do_not():
    story = Story()
    story.purchase(0)
    story.purchase(100)
    story.purchase(181)
    assert story.at(182).stage is Stage.DEVELOPMENT


def test_same_day_orders_are_one_occasion():
    story = Story()
    story.purchase(0, amount="10")
    story.purchase(0.1, amount="20")
    story.purchase(0.2, amount="30")
    state = story.at(1)
    assert state.stage is Stage.DEVELOPMENT
    assert state.purchase_occasions == 1
    assert state.total_spend == Decimal("60")
    assert state.last_purchase_at == day(0.2)


def test_inactivity_churn_at_exactly_180_days_after_the_last_purchase():
    story = Story()
    story.purchase(0)
    story.purchase(30)
    due = day(210)
    facts = story.facts()
    assert derive(facts, DEFAULT_RULES, due - MICROSECOND).stage is Stage.DEVELOPMENT
    state = derive(facts, DEFAULT_RULES, due)
    assert state.stage is Stage.CHURN
    assert state.stage_since == due
    assert stage_rows(state)[-1] == (Stage.DEVELOPMENT, Stage.CHURN, Reason.INACTIVITY, CLOCK)


def test_a_purchase_exactly_when_churn_falls_due_prevents_it():
    story = Story()
    story.purchase(0)
    story.purchase(180)
    assert story.at(181).stage is Stage.DEVELOPMENT


def test_early_abort_at_90_days_after_first_contact_without_purchase():
    story = Story()
    story.contact(0)
    story.contact(50)
    assert story.at(89.99).stage is Stage.ACQUISITION
    state = story.at(90)
    assert state.stage is Stage.CHURN
    assert state.stage_since == day(90)
    assert stage_rows(state) == [
        (None, Stage.ACQUISITION, Reason.FIRST_CONTACT, "contact-1"),
        (Stage.ACQUISITION, Stage.CHURN, Reason.NO_PURCHASE_AFTER_FIRST_CONTACT, CLOCK),
    ]
    assert state.lifecycle_pattern is LifecyclePattern.EARLY_ABORT


def test_a_purchase_before_90_days_prevents_early_abort():
    story = Story()
    story.contact(0)
    story.purchase(89)
    assert story.at(100).stage is Stage.DEVELOPMENT


def test_reactivation_after_churn_reenters_development():
    story = Story()
    story.purchase(0)
    story.purchase(400, event_id="back")
    state = story.at(401)
    assert state.stage is Stage.DEVELOPMENT
    assert state.reactivations == 1
    assert state.lifecycle_pattern is None
    assert stage_rows(state) == [
        (None, Stage.ACQUISITION, Reason.FIRST_PURCHASE, "purchase-1"),
        (Stage.ACQUISITION, Stage.DEVELOPMENT, Reason.FIRST_PURCHASE, "purchase-1"),
        (Stage.DEVELOPMENT, Stage.CHURN, Reason.INACTIVITY, CLOCK),
        (Stage.CHURN, Stage.DEVELOPMENT, Reason.REACTIVATED, "back"),
    ]


def test_reactivations_count_every_win_back():
    story = Story()
    story.purchase(0)
    story.purchase(200)
    story.purchase(400)
    state = story.at(401)
    assert state.reactivations == 2
    assert state.purchase_occasions == 3


def test_a_lost_lead_who_buys_counts_as_won_back():
    story = Story()
    story.contact(0)
    story.purchase(120)
    state = story.at(121)
    assert state.stage is Stage.DEVELOPMENT
    assert state.reactivations == 1
    assert stage_rows(state)[-1][2] is Reason.REACTIVATED


def test_pattern_midway_when_churning_from_development():
    story = Story()
    story.purchase(0)
    assert story.at(180).lifecycle_pattern is LifecyclePattern.MIDWAY


def test_pattern_early_exit_when_churning_from_maintenance():
    story = Story()
    for n in (0, 30, 60):
        story.purchase(n)
    state = story.at(300)
    assert state.stage is Stage.CHURN
    assert state.lifecycle_pattern is LifecyclePattern.EARLY_EXIT


def test_pattern_long_lasting_after_730_days_in_maintenance():
    story = Story()
    for n in range(0, 1000, 30):
        story.purchase(n)
    assert story.at(60).stage is Stage.MAINTENANCE
    assert story.at(60 + 729).lifecycle_pattern is None
    state = story.at(60 + 730)
    assert state.lifecycle_pattern is LifecyclePattern.LONG_LASTING
    assert state.next_due_at is not None


def test_a_customer_whose_only_event_is_ahead_of_the_clock_is_known_from_its_time():
    # A future-dated event that slipped through never leaves stage_since null.
    story = Story()
    story.purchase(10)
    state = story.at(5)
    assert state.stage is Stage.ACQUISITION
    assert state.first_seen_at == day(10)
    assert state.stage_since == day(10)
    assert state.history == ()  # nothing happened yet: the entry is recorded at day 10
    assert state.next_due_at == day(10)
