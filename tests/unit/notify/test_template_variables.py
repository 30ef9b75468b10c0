"""Issue 16.8: a template never prints "None"; a variable a step cannot have stops start-up."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.notify.bootstrap import load_configuration
from services.notify.domain import PlaybookError, TemplateBook, parse_playbooks
from services.notify.domain.templates import step_context
from services.notify.settings import NotifySettings

CONFIG = load_configuration(NotifySettings())


def test_a_null_variable_fails_instead_of_rendering_none() -> None:
    book = TemplateBook({"x": {"en": {"body": "did not use coupon {{ coupon }}"}}}, "en")
    with pytest.raises(PlaybookError, match="coupon"):
        book.render("x", "en", {"coupon": None})


def test_a_null_variable_with_a_fallback_renders_the_fallback() -> None:
    book = TemplateBook({"x": {"en": {"body": 'Hello {{ name or "there" }}'}}}, "en")
    assert book.render("x", "en", {"name": None}).body == "Hello there"


def test_an_unknown_variable_fails() -> None:
    book = TemplateBook({"x": {"en": {"body": "Hello {{ nmae }}"}}}, "en")
    with pytest.raises(PlaybookError, match="nmae"):
        book.render("x", "en", {})


def test_every_shipped_step_renders_without_none_even_with_every_optional_value_missing() -> None:
    for playbook in CONFIG.book.playbooks:
        for step in playbook.steps:
            for locale in CONFIG.templates.locales(step.template):
                for filled in (False, True):
                    context = step_context(playbook, step, filled)
                    out = CONFIG.templates.render(step.template, locale, context)
                    assert "None" not in out.subject + out.body, (playbook.name, step.name)


def test_the_churned_win_back_call_names_the_coupon_it_was_offered() -> None:
    churned = CONFIG.book.get("churned")
    assert churned is not None
    call = churned.step("win_back_call")
    assert call is not None and call.coupon
    out = CONFIG.templates.render(
        call.template, "en", step_context(churned, call, filled=False) | {"coupon": "WB-1"}
    )
    assert "did not use coupon WB-1" in out.body


def _write(tmp_path: Path, playbooks: dict[str, Any], templates: dict[str, Any]) -> NotifySettings:
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(playbooks))
    (tmp_path / "t.yaml").write_text(yaml.safe_dump({"templates": templates}))
    return NotifySettings(playbooks_path=tmp_path / "p.yaml", templates_path=tmp_path / "t.yaml")


def test_start_up_refuses_a_step_whose_template_prints_a_coupon_the_step_has_not(
    tmp_path: Path,
) -> None:
    playbooks = {
        "playbooks": [
            {
                "name": "churned",
                "trigger": {"kind": "stage_entered", "stage": "churn"},
                "steps": [{"name": "call", "channel": "webhook", "template": "call"}],
            }
        ]
    }
    templates = {"call": {"en": {"body": "did not use coupon {{ coupon }}"}}}
    with pytest.raises(PlaybookError, match=r"churned\.call.*coupon"):
        load_configuration(_write(tmp_path, playbooks, templates))


def test_start_up_refuses_a_misspelt_variable(tmp_path: Path) -> None:
    playbooks = {
        "playbooks": [
            {
                "name": "p",
                "trigger": {"kind": "stage_entered", "stage": "churn"},
                "steps": [{"name": "s", "channel": "email", "template": "t"}],
            }
        ]
    }
    templates = {"t": {"en": {"body": "Hello {{ nmae }}"}}}
    with pytest.raises(PlaybookError, match=r"templates\.t\.en.*nmae"):
        load_configuration(_write(tmp_path, playbooks, templates))


def test_a_complaint_step_may_print_its_ticket_and_a_holiday_step_its_holiday() -> None:
    book = parse_playbooks(
        {
            "playbooks": [
                {
                    "name": "c",
                    "trigger": {"kind": "event", "event": "complaint.opened"},
                    "steps": [{"name": "s", "channel": "email", "template": "t"}],
                }
            ]
        }
    )
    playbook = book.playbooks[0]
    assert step_context(playbook, playbook.steps[0], filled=False)["ticket_id"] is not None
