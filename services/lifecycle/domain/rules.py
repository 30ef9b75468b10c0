"""The lifecycle rules every business tunes, with the seeds' numbers as defaults."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.lifecycle.domain.stages import Tier
from shared.business_calendar import BusinessCalendar, business_zone


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StageRules(_Section):
    maintenance_min_occasions: int = Field(default=3, ge=1)
    maintenance_window_days: int = Field(default=180, gt=0)
    churn_inactivity_days: int = Field(default=180, gt=0)
    early_abort_days: int = Field(default=90, gt=0)


class AtRiskRules(_Section):
    floor_days: float = Field(default=60, gt=0)
    usual_gap_multiplier: float = Field(default=3.0, gt=0)
    min_occasions_for_usual_gap: int = Field(default=2, ge=2)
    complaint_count: int = Field(default=2, ge=1)
    complaint_window_days: int = Field(default=30, gt=0)
    churn_risk_threshold: float = Field(default=0.7, ge=0, le=1)


class TierRules(_Section):
    window_days: int = Field(default=365, gt=0)
    a_min_spend: Decimal = Field(default=Decimal(5_000_000), ge=0)
    b_min_spend: Decimal = Field(default=Decimal(1_000_000), ge=0)

    @model_validator(mode="after")
    def _a_above_b(self) -> TierRules:
        if self.a_min_spend < self.b_min_spend:
            raise ValueError("a_min_spend must be >= b_min_spend")
        return self

    def tier_for(self, trailing_spend: Decimal) -> Tier:
        if trailing_spend >= self.a_min_spend:
            return Tier.A
        if trailing_spend >= self.b_min_spend:
            return Tier.B
        return Tier.C


class UpgradeRules(_Section):
    growth_ratio: float = Field(default=0.20, ge=0)
    growth_quarters: int = Field(default=2, ge=1)
    new_category_days: int = Field(default=90, gt=0)


class PatternRules(_Section):
    long_lasting_days: int = Field(default=730, gt=0)


class CalendarRules(_Section):
    """Set from CLM_BUSINESS_TIMEZONE (every service's one setting), never from the file."""

    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _an_iana_zone(cls, name: str) -> str:
        business_zone(name)
        return name

    @property
    def business_calendar(self) -> BusinessCalendar:
        return BusinessCalendar.named(self.timezone)


class LifecycleRules(_Section):
    calendar: CalendarRules = Field(default_factory=CalendarRules)
    stages: StageRules = Field(default_factory=StageRules)
    at_risk: AtRiskRules = Field(default_factory=AtRiskRules)
    tiers: TierRules = Field(default_factory=TierRules)
    upgrade: UpgradeRules = Field(default_factory=UpgradeRules)
    patterns: PatternRules = Field(default_factory=PatternRules)


class RulesError(ValueError):
    """A rules file that cannot be used; the message names each offending field."""


def load_rules(path: str | Path, business_timezone: str = "UTC") -> LifecycleRules:
    """The rules of the file, in the business's time zone (CLM_BUSINESS_TIMEZONE)."""
    path = Path(path)
    if path.suffix not in {".yaml", ".yml", ".toml"}:
        raise RulesError(f"{path}: rules must be .yaml, .yml or .toml")
    text = path.read_text(encoding="utf-8")
    try:
        raw: Any = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise RulesError(f"{path}: not valid {path.suffix[1:].upper()}: {exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise RulesError(f"{path}: the top level must be a mapping of sections")
    if "calendar" in raw:
        raise RulesError(
            f"{path}: calendar: the time zone is set by CLM_BUSINESS_TIMEZONE, the same for "
            "every service"
        )
    try:
        return LifecycleRules.model_validate({**raw, "calendar": {"timezone": business_timezone}})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise RulesError(f"{path}: invalid lifecycle rules: {problems}") from exc
