"""Message templates (Jinja2, sandboxed) per locale, with fallback to the default locale."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from .playbooks import PlaybookError

_ENV = SandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
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
        return Rendered(
            chosen, template.subject.render(values).strip(), template.body.render(values).strip()
        )


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
