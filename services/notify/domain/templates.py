"""Message templates (Jinja2, sandboxed) per locale, with fallback to the default locale.

A variable a template prints must have a value: an unknown name (StrictUndefined) or a null
value (the finalize hook) fails the render instead of printing "None". At start-up every
step's template is rendered twice per locale, with the values the step always has and every
optional one null, then with all filled, so such a template stops the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2.sandbox import SandboxedEnvironment

from .playbooks import Playbook, PlaybookBook, PlaybookError, TriggerKind


class TemplateValueError(PlaybookError):
    """A template printed a variable that has no value."""


def _never_null(value: Any) -> Any:
    if value is None:
        raise TemplateValueError(
            "a printed variable is null; guard it ({% if x %}) or give a fallback (x or '...')"
        )
    return value


_ENV = SandboxedEnvironment(
    undefined=StrictUndefined,
    autoescape=False,
    keep_trailing_newline=False,
    finalize=_never_null,
)

# Every template may use these; absent values are None, so templates can say `name or "..."`.
CONTEXT_FIELDS = (
    "customer_id",
    "name",
    "stage",
    "tier",
    "coupon",
    "clv_band",
    "playbook",
    "step",
    "ticket_id",
    "holiday",
)


@dataclass(frozen=True)
class Rendered:
    locale: str
    subject: str
    body: str


@dataclass(frozen=True)
class _Compiled:
    subject: Any
    body: Any
    printed: frozenset[str]  # variables printed bare ({{ x }}), to name a null one


def _printed(*sources: str) -> frozenset[str]:
    names: set[str] = set()
    for source in sources:
        for output in _ENV.parse(source).find_all(nodes.Output):
            names.update(n.name for n in output.nodes if isinstance(n, nodes.Name))
    return frozenset(names)


class TemplateBook:
    def __init__(self, raw: dict[str, dict[str, dict[str, str]]], default_locale: str) -> None:
        self.default_locale = default_locale
        self._templates: dict[str, dict[str, _Compiled]] = {}
        for name, locales in raw.items():
            compiled = {}
            for locale, parts in locales.items():
                try:
                    compiled[locale] = _Compiled(
                        _ENV.from_string(parts.get("subject", "")),
                        _ENV.from_string(parts["body"]),
                        _printed(parts.get("subject", ""), parts["body"]),
                    )
                except KeyError as exc:
                    raise PlaybookError(f"templates.{name}.{locale}: needs a 'body'") from exc
                except TemplateError as exc:
                    raise PlaybookError(f"templates.{name}.{locale}: {exc}") from exc
            self._templates[name] = compiled

    def names(self) -> set[str]:
        return set(self._templates)

    def locales(self, name: str) -> list[str]:
        return sorted(self._templates.get(name, {}))

    def check_covers(self, used: set[str]) -> None:
        for name in sorted(used):
            if self.default_locale not in self._templates.get(name, {}):
                raise PlaybookError(
                    f"templates.{name}: missing, or has no text in the default locale "
                    f"'{self.default_locale}'"
                )

    def resolve_locale(self, name: str, wanted: str | None) -> str:
        available = self._templates[name]
        if wanted:
            if wanted in available:
                return wanted
            language = wanted.split("-")[0].lower()
            for locale in sorted(available):
                if locale.split("-")[0].lower() == language:
                    return locale
        return self.default_locale

    def render(self, name: str, locale: str | None, context: dict[str, Any]) -> Rendered:
        chosen = self.resolve_locale(name, locale)
        template = self._templates[name][chosen]
        values = {field: None for field in CONTEXT_FIELDS} | context
        try:
            subject = template.subject.render(values).strip()
            body = template.body.render(values).strip()
        except TemplateValueError as exc:
            null = sorted(v for v in template.printed if values.get(v, "") is None)
            raise TemplateValueError(
                f"templates.{name}.{chosen}: {', '.join(null) or 'a variable'} is null: {exc}"
            ) from exc
        except TemplateError as exc:  # an unknown variable (StrictUndefined) and the like
            raise TemplateValueError(f"templates.{name}.{chosen}: {exc}") from exc
        return Rendered(chosen, subject, body)

    def check_steps(self, book: PlaybookBook) -> None:
        """Renders each step's template in each locale with and without its optional values."""
        for playbook in book.playbooks:
            for step in playbook.steps:
                for locale in self.locales(step.template):
                    for filled in (False, True):
                        try:
                            self.render(step.template, locale, step_context(playbook, step, filled))
                        except PlaybookError as exc:
                            missing = "" if filled else " (optional values null)"
                            raise PlaybookError(
                                f"playbooks.{playbook.name}.{step.name}{missing}: {exc}"
                            ) from exc


# Sample values for start-up checks; the real ones come from the profile and the trigger.
_SAMPLE = {
    "customer_id": "c-sample",
    "name": "Sample",
    "stage": "development",
    "tier": "C",
    "coupon": "WB-SAMPLE",
    "clv_band": "high",
    "ticket_id": "T-SAMPLE",
    "holiday": "new_year",
}


def step_context(playbook: Playbook, step: Any, filled: bool) -> dict[str, Any]:
    """What a step's template can count on: the values it always has, the optional ones
    (profile fields, scores) null unless ``filled``."""
    trigger = playbook.trigger
    always = {
        "customer_id": True,
        "tier": True,  # a customer without a tier change is tier C
        "coupon": bool(step.coupon),
        "ticket_id": trigger.kind is TriggerKind.EVENT
        and (trigger.event or "").startswith("complaint."),
        "holiday": trigger.kind is TriggerKind.DATE and bool(trigger.holidays),
    }
    values: dict[str, Any] = {"playbook": playbook.name, "step": step.name}
    for name, sample in _SAMPLE.items():
        has = always.get(name)
        values[name] = sample if has or (filled and has is None) else None
    return values


def load_templates(path: Path, default_locale: str) -> TemplateBook:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PlaybookError(f"{path}: cannot read templates: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("templates"), dict):
        raise PlaybookError(f"{path}: templates: must be a mapping of template name to locales")
    for name, locales in raw["templates"].items():
        if not isinstance(locales, dict) or not all(isinstance(v, dict) for v in locales.values()):
            raise PlaybookError(f"{path}: templates.{name}: must map locale to subject/body")
    return TemplateBook(raw["templates"], default_locale)
