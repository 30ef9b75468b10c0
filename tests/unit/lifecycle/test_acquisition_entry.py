"""A new customer's first fact records (and publishes) the entry into acquisition."""

from services.lifecycle.domain.changes import changes_between
from services.lifecycle.domain.engine import derive
from services.lifecycle.domain.stages import Reason, Stage
from services.lifecycle.domain.transitions import CLOCK
from tests.unit.lifecycle.story import DEFAULT_RULES, Story, day


def stage_rows(state):
    return [
        (t.from_stage, t.to_stage, t.reason, t.cause_event_id, t.occurred_at)
        for t in state.history
        if t.kind == "stage"
    ]


def test_a_contact_only_customer_enters_acquisition_at_its_first_contact_then_churns():
    story = Story()
    story.contact(0, event_id="c1")
    story.contact(50, event_id="c2")
    state = story.at(90)
    assert stage_rows(state) == [
        (None, Stage.ACQUISITION, Reason.FIRST_CONTACT, "c1", day(0)),
        (Stage.ACQUISITION, Stage.CHURN, Reason.NO_PURCHASE_AFTER_FIRST_CONTACT, CLOCK, day(90)),
    ]


def test_a_first_purchase_records_both_transitions_in_order():
    story = Story()
    story.purchase(3, event_id="p1")
    state = story.at(4)
    assert state.stage is Stage.DEVELOPMENT
    assert stage_rows(state) == [
        (None, Stage.ACQUISITION, Reason.FIRST_PURCHASE, "p1", day(3)),
        (Stage.ACQUISITION, Stage.DEVELOPMENT, Reason.FIRST_PURCHASE, "p1", day(3)),
    ]


def test_a_first_complaint_or_profile_counts_as_first_contact():
    story = Story()
    story.complaint(0, event_id="t1")
    story.purchase(5, event_id="p1")
    assert stage_rows(story.at(6))[0] == (
        None,
        Stage.ACQUISITION,
        Reason.FIRST_CONTACT,
        "t1",
        day(0),
    )


def test_the_entry_is_published_with_a_null_from_stage_and_a_stable_id():
    story = Story()
    story.contact(0, event_id="c1")
    first = story.at(1)
    changes = changes_between((), first.history)
    assert [(c.event_type, c.data()["from_stage"], c.data()["to_stage"]) for c in changes] == [
        ("clm.lifecycle.stage_changed", None, "acquisition")
    ]
    assert changes[0].data()["reason"] == "first_contact"
    assert changes[0].id == story.at(2).history[0].id  # deterministic


def test_an_earlier_late_contact_moves_the_entry_by_a_correction():
    story = Story()
    story.purchase(10, event_id="p1")
    before = story.at(11)
    story.contact(2, event_id="c0")
    after = story.at(11)
    assert stage_rows(after)[0] == (None, Stage.ACQUISITION, Reason.FIRST_CONTACT, "c0", day(2))
    changes = changes_between(before.history, after.history, "c0")
    corrections = [c for c in changes if c.is_correction]
    assert [(c.data()["from_stage"], c.data()["to_stage"]) for c in corrections] == [
        ("acquisition", None)
    ]
    added = [c for c in changes if not c.is_correction]
    assert [(c.from_stage, c.to_stage, c.reason) for c in added] == [
        (None, Stage.ACQUISITION, Reason.FIRST_CONTACT)
    ]


def test_a_customer_known_only_by_a_score_has_not_entered():
    story = Story()
    story.score(0, 0.9)
    assert derive(story.facts(), DEFAULT_RULES, day(1)).history == ()
