from datetime import timedelta

from services.lifecycle.domain.changes import changes_between
from services.lifecycle.domain.engine import derive
from services.lifecycle.domain.facts import apply
from services.lifecycle.domain.stages import Flag, Reason, Stage
from services.lifecycle.domain.transitions import CLOCK, Transition
from tests.unit.lifecycle.story import DEFAULT_RULES, Story, day


def test_a_late_purchase_dated_before_a_clock_driven_churn_removes_it():
    story = Story()
    story.purchase(0)
    story.purchase(20)
    before = story.at(250)
    churn = [t for t in before.history if t.to_stage is Stage.CHURN and t.kind == "stage"]
    assert [(t.occurred_at, t.cause_event_id) for t in churn] == [(day(200), CLOCK)]

    late = story.purchase(150, event_id="late")
    after = story.at(250)
    assert after.stage is Stage.MAINTENANCE  # 0, 20 and 150: three occasions
    assert all(t.occurred_at != day(200) or t.kind != "stage" for t in after.history)

    changes = changes_between(before.history, after.history, cause_event_id=late.event_id)
    corrections = [c for c in changes if c.is_correction]
    assert {c.retracts for c in corrections} >= {churn[0].id}
    churn_correction = next(c for c in corrections if c.retracts == churn[0].id)
    assert churn_correction.reason is Reason.LATE_EVENT_CORRECTION
    assert churn_correction.from_stage is Stage.CHURN
    assert churn_correction.to_stage is Stage.DEVELOPMENT
    assert churn_correction.cause_event_id == "late"
    assert churn_correction.event_type == "clm.lifecycle.stage_changed"
    assert churn_correction.data()["retracts"] == churn[0].id
    # corrections come first, then what the late event newly caused
    new = [c for c in changes if not c.is_correction]
    assert changes.index(corrections[-1]) < changes.index(new[0])
    assert any(c.reason is Reason.ACTIVITY_RESUMED and c.cause_event_id == "late" for c in new)


def test_a_retracted_flag_is_reversed():
    story = Story()
    story.purchase(0)
    before = story.at(61)
    story.purchase(59)
    after = story.at(61)
    changes = changes_between(before.history, after.history)
    (correction,) = [c for c in changes if c.is_correction]
    assert correction.flag is Flag.AT_RISK
    assert correction.flag_value is False
    assert correction.event_type == "clm.lifecycle.flag_changed"


def test_an_unchanged_history_publishes_nothing():
    story = Story()
    story.purchase(0)
    story.purchase(30)
    state = story.at(400)
    assert changes_between(state.history, story.at(400).history) == []


def test_republishing_is_idempotent_by_id():
    story = Story()
    story.purchase(0)
    old = story.at(10).history
    new = story.at(400).history
    first = changes_between(old, new)
    again = changes_between(old, story.at(400).history)
    assert [c.id for c in first] == [c.id for c in again]
    assert len({c.id for c in first}) == len(first)


def test_only_the_new_tail_is_published_as_time_passes():
    story = Story()
    story.purchase(0)
    old = story.at(10).history
    new = story.at(190).history
    changes = changes_between(old, new)
    assert not any(c.is_correction for c in changes)
    assert [c.id for c in changes] == [t.id for t in new[len(old) :]]


def test_transition_ids_are_deterministic_and_survive_json():
    story = Story()
    story.purchase(0)
    story.complaint(3)
    story.complaint(4)
    a = story.at(300).history
    b = story.at(300 + 1e-6).history
    assert [t.id for t in a] == [t.id for t in b]
    assert [Transition.from_json(t.to_json()) for t in a] == list(a)


def test_applying_a_duplicate_changes_nothing_to_publish():
    story = Story()
    event = story.purchase(0)
    facts = story.facts()
    again = apply(facts, event)
    assert again == facts
    now = day(0) + timedelta(days=1)
    assert (
        changes_between(
            derive(facts, DEFAULT_RULES, now).history, derive(again, DEFAULT_RULES, now).history
        )
        == []
    )
