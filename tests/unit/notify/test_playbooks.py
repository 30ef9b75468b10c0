"""Playbooks as configuration: the shipped file is valid; a bad one names the field."""

from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.notify.bootstrap import load_configuration
from services.notify.domain import PlaybookError, TriggerKind, load_playbooks, parse_playbooks
from services.notify.domain.durations import parse_duration
from services.notify.domain.triggers import Trigger, match_key, playbooks_for
from services.notify.settings import DEFAULT_PLAYBOOKS, NotifySettings


def _minimal(**playbook: Any) -> dict[str, Any]:
    base = {
        "name": "p",
        "trigger": {"kind": "stage_entered", "stage": "churn"},
        "steps": [{"name": "s", "channel": "email", "template": "t"}],
    }
    return {"playbooks": [base | playbook]}


def test_the_default_playbooks_and_templates_load() -> None:
    config = load_configuration(NotifySettings())
    names = {p.name for p in config.book.playbooks}
    assert {"new_customer", "at_risk", "churned", "complaint_opened", "complaint_resolved"} <= names
    new_customer = config.book.get("new_customer")
    assert new_customer is not None
    assert [s.delay for s in new_customer.steps] == [
        timedelta(0),
        timedelta(days=3),
        timedelta(days=7),
        timedelta(days=30),
    ]
    assert config.book.get("churned").cancel_on == ("purchase",)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"trigger": {"kind": "stage_entered", "stage": "gone"}}, "playbooks.0.trigger"),
        ({"trigger": {"kind": "flag_set"}}, "playbooks.0.trigger"),
        ({"steps": [{"name": "s", "channel": "fax", "template": "t"}]}, "playbooks.0.steps.0.channel"),
        ({"steps": [{"name": "s", "channel": "email", "template": "t", "delay": "soon"}]},
         "playbooks.0.steps.0.delay"),
        ({"steps": [{"name": "s", "channel": "email", "template": "t", "tiers": ["Z"]}]},
         "playbooks.0.steps.0.tiers"),
        ({"steps": []}, "playbooks.0.steps"),
        ({"surprise": 1}, "playbooks.0.surprise"),
    ],
)  # fmt: skip
def test_a_bad_playbook_names_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(PlaybookError) as err:
        parse_playbooks(_minimal(**change), "book.yaml")
    assert field in str(err.value)
    assert "book.yaml" in str(err.value)


def test_duplicate_names_are_refused() -> None:
    raw = _minimal()
    raw["playbooks"] = raw["playbooks"] * 2
    with pytest.raises(PlaybookError, match="unique"):
        parse_playbooks(raw)


def test_a_bad_policy_field_is_named(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    raw = _minimal() | {"policy": {"default_timezone": "Mars/Olympus"}}
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(PlaybookError, match=r"policy\.default_timezone"):
        load_playbooks(path)


def test_a_missing_template_stops_start_up(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(_minimal()))
    with pytest.raises(PlaybookError, match=r"templates\.t"):
        load_configuration(NotifySettings(playbooks_path=path))


def test_the_default_file_uses_the_trigger_kinds_it_documents() -> None:
    kinds = {p.trigger.kind for p in load_playbooks(DEFAULT_PLAYBOOKS).playbooks}
    assert kinds == {
        TriggerKind.STAGE_ENTERED, TriggerKind.FLAG_SET, TriggerKind.EVENT, TriggerKind.DATE,
        TriggerKind.TIER_ENTERED,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("15m", 900), ("24h", 86400), ("3d", 259200), (45, 45)]
)
def test_durations(text: Any, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_a_score_trigger_needs_one_threshold() -> None:
    trigger = {"kind": "score_crossed", "score": "clv", "above": 1, "below": 2}
    with pytest.raises(PlaybookError, match=r"playbooks\.0\.trigger"):
        parse_playbooks(_minimal(trigger=trigger))
    with pytest.raises(PlaybookError, match="score must be one of"):
        parse_playbooks(_minimal(trigger={"kind": "score_crossed", "score": "x", "above": 1}))


def test_playbooks_for_finds_by_trigger_kind_what_a_scan_of_the_active_book_finds() -> None:
    """The kind index (PlaybookBook.active_by_kind) is a shortcut, never a different answer:
    every default trigger, and triggers no playbook has, with one playbook disabled."""
    book = load_playbooks(DEFAULT_PLAYBOOKS)
    first = book.playbooks[0]
    disabled = book.model_copy(
        update={"playbooks": (first.model_copy(update={"enabled": False}), *book.playbooks[1:])}
    )
    at = datetime(2026, 1, 1, tzinfo=UTC)
    triggers = [
        Trigger(TriggerKind.STAGE_ENTERED, "c", "o", at, stage=s, from_stage=f)
        for s in ("acquisition", "development", "maintenance", "churn")
        for f in (None, "acquisition", "churn")
    ]
    triggers += [
        Trigger(TriggerKind.FLAG_SET, "c", "o", at, flag="at_risk"),
        Trigger(TriggerKind.FLAG_CLEARED, "c", "o", at, flag="at_risk"),
        Trigger(TriggerKind.TIER_ENTERED, "c", "o", at, tier="A"),
        Trigger(TriggerKind.TIER_ENTERED, "c", "o", at, tier="C"),
        *(Trigger(TriggerKind.EVENT, "c", "o", at, event=e) for e in
          ("purchase", "contact", "complaint.opened", "complaint.resolved")),
        Trigger(TriggerKind.DATE, "c", "o", at, date="birthday"),
        Trigger(TriggerKind.SEGMENT_ENTERED, "c", "o", at, segment="vip"),
    ]  # fmt: skip
    for b in (book, disabled):
        for t in triggers:
            assert playbooks_for(t, b) == [p for p in b.active if t.matches(p)], t
    assert first not in playbooks_for(
        Trigger(first.trigger.kind, "c", "o", at, stage=first.trigger.stage), disabled
    )


def test_match_key_holds_every_field_a_match_reads() -> None:
    """Intake memoises which playbooks a trigger starts by `match_key` within a batch: the
    key changes with every field but the customer, occurrence, time and context, and triggers
    with one key start the same playbooks."""
    book = load_playbooks(DEFAULT_PLAYBOOKS)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    base = Trigger(TriggerKind.STAGE_ENTERED, "c", "o", at, stage="churn", from_stage="acquisition")
    ignored: dict[str, Any] = {"customer_id": "c2", "occurrence_id": "o2", "occurred_at": at + timedelta(days=1),
               "context": {"ticket_id": "t"}}  # fmt: skip
    for name, value in ignored.items():
        other = replace(base, **{name: value})
        assert match_key(other) == match_key(base), name
        assert playbooks_for(other, book) == playbooks_for(base, book)
    read = {f.name for f in fields(Trigger)} - set(ignored)
    for name in read:
        changed: Any = (
            TriggerKind.EVENT if name == "kind" else (0.5 if name in ("previous", "value") else "x")
        )
        assert match_key(replace(base, **{name: changed})) != match_key(base), name
