"""Inbound records as observations: lifecycle changes, customer events and score updates."""

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from services.notify.domain import TriggerKind
from services.notify.service_layer.observations import (
    decode_customer_event,
    decode_lifecycle_change,
    decode_scores,
    observe_customer_event,
)
from shared.cloudevents import CloudEvent, CloudEventError, to_kafka
from shared.customer_event_codec import to_cloudevent
from shared.events import customer_event_adapter
from tests.support.factories import complaint, profile

AT = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


@dataclass
class Record:
    value: bytes
    headers: list[tuple[str, bytes]]


def _record(ce_type: str, data: dict[str, object], ce_id: str = "ce-1") -> Record:
    event = CloudEvent(ce_id, "/clm/lifecycle", ce_type, "c1", AT, data)
    r = to_kafka("t", event)
    return Record(r.value, r.headers)


def _change(**data: object) -> dict[str, object]:
    return {"customer_id": "c1", "occurred_at": AT.isoformat(), "transition_id": "tr-1"} | data


def test_a_stage_change_is_a_stage_entered_trigger_keyed_by_the_transition() -> None:
    o = decode_lifecycle_change(
        _record("clm.lifecycle.stage_changed", _change(to_stage="churn"), ce_id="other-id")
    )
    assert o.trigger is not None
    assert (o.trigger.kind, o.trigger.stage, o.trigger.occurrence_id) == (
        TriggerKind.STAGE_ENTERED, "churn", "tr-1",
    )  # fmt: skip
    assert o.stage == "churn"


def test_a_correction_retracts_instead_of_triggering() -> None:
    o = decode_lifecycle_change(
        _record("clm.lifecycle.stage_changed", _change(to_stage="maintenance", retracts="tr-0"))
    )
    assert (o.trigger, o.retracts, o.stage) == (None, "tr-0", "maintenance")


def test_flags_set_and_cleared_and_tiers() -> None:
    cleared = decode_lifecycle_change(
        _record("clm.lifecycle.flag_changed", _change(flag="at_risk", flag_value=False))
    )
    assert cleared.trigger is not None and cleared.trigger.kind is TriggerKind.FLAG_CLEARED
    tier = decode_lifecycle_change(_record("clm.lifecycle.tier_changed", _change(to_tier="A")))
    assert tier.tier == "A"
    assert tier.trigger is not None and tier.trigger.kind is TriggerKind.TIER_ENTERED
    assert tier.trigger.tier == "A"


def test_a_change_without_a_time_offset_is_poison() -> None:
    with pytest.raises(CloudEventError, match="offset"):
        decode_lifecycle_change(
            _record("clm.lifecycle.stage_changed", _change(occurred_at="2026-03-02T04:00:00"))
        )


def test_complaints_are_one_occurrence_per_ticket_and_status() -> None:
    event = customer_event_adapter.validate_python(complaint("c1", AT, status="resolved"))
    r = to_kafka("t", to_cloudevent(event))
    o = observe_customer_event(decode_customer_event(Record(r.value, r.headers)))
    assert o.trigger is not None
    assert (o.trigger.event, o.trigger.occurrence_id) == (
        "complaint.resolved",
        "complaint.resolved:t-1",
    )
    assert o.trigger.context == {"ticket_id": "t-1"}


def test_profile_events_carry_contact_details_and_consent() -> None:
    event = customer_event_adapter.validate_python(
        profile("c1", AT, email="a@b.cn", consent={"email": False})
    )
    o = observe_customer_event(event)
    assert o.trigger is None
    assert o.profile == {"email": "a@b.cn", "consent": {"email": False}}


def test_score_updates_keep_the_known_scores() -> None:
    r = _record("clm.scoring.scores_updated", {"customer_id": "c1", "clv": 12, "segment": "x"})
    assert decode_scores(r).scores == {
        "churn_risk": None, "p_alive": None, "clv": 12.0, "health_score": None,
    }  # fmt: skip
    with pytest.raises(CloudEventError):
        decode_scores(_record("clm.scoring.scores_updated", {"customer_id": "c1", "clv": "x"}))


def test_an_entry_into_acquisition_triggers_but_never_overrides_the_known_stage() -> None:
    # A late, earlier event re-dates the entry (retracted, then published again) after the
    # customer has moved on: the entry must not put notify's stage back to acquisition.
    entry = _change(from_stage=None, to_stage="acquisition", reason="first_contact")
    o = decode_lifecycle_change(_record("clm.lifecycle.stage_changed", entry))
    assert o.trigger is not None
    assert (o.trigger.kind, o.trigger.stage) == (TriggerKind.STAGE_ENTERED, "acquisition")
    assert o.stage is None


def test_the_correction_of_an_entry_has_no_stage_to_revert_to() -> None:
    retracted = _change(from_stage="acquisition", to_stage=None, retracts="tr-0")
    o = decode_lifecycle_change(_record("clm.lifecycle.stage_changed", retracted))
    assert (o.trigger, o.retracts, o.stage) == (None, "tr-0", None)
