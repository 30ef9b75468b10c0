"""A playbook started by a segment entry (clm.segment-memberships.v1): the entry is a
segment_entered trigger, one occurrence per stay; an exit triggers nothing."""

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from services.audiences.adapters.memberships_topic import membership_record
from services.audiences.domain.membership import Reason, changes_of
from services.notify.domain import PlaybookError, TriggerKind, parse_playbooks, playbooks_for
from services.notify.service_layer.observations import decode_segment_membership

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
STEP = {"name": "call", "channel": "webhook", "template": "call_back_task"}


@dataclass
class _Record:
    value: bytes
    headers: list[tuple[str, bytes]]


def _book(trigger: dict[str, str]) -> object:
    return parse_playbooks(
        {"playbooks": [{"name": "vip_welcome", "trigger": trigger, "steps": [STEP]}]}
    )


def test_an_entry_triggers_the_playbooks_of_its_segment_only() -> None:
    [
        entry,
    ] = changes_of("vip", {"c1": T0}, {}, Reason.CUSTOMER_CHANGED, T0)
    record = membership_record(entry)
    observed = decode_segment_membership(_Record(record.value, record.headers))
    assert observed.trigger is not None
    assert observed.trigger.kind is TriggerKind.SEGMENT_ENTERED
    assert observed.trigger.occurrence_id == entry.event_id  # one occurrence per stay
    book = _book({"kind": "segment_entered", "segment": "vip"})
    assert [p.name for p in playbooks_for(observed.trigger, book)] == ["vip_welcome"]  # type: ignore[arg-type]
    other = _book({"kind": "segment_entered", "segment": "lapsed"})
    assert playbooks_for(observed.trigger, other) == []  # type: ignore[arg-type]


def test_an_exit_triggers_nothing() -> None:
    [exit_] = changes_of("vip", {}, {"c1": T0}, Reason.TIME_PASSED, T0)
    record = membership_record(exit_)
    assert decode_segment_membership(_Record(record.value, record.headers)).trigger is None


def test_a_segment_trigger_names_its_segment() -> None:
    with pytest.raises(PlaybookError, match="segment"):
        _book({"kind": "segment_entered"})
