"""Playbooks as validated configuration: what triggers them, which steps follow, and the policy.

A bad file stops the service at start-up with a message naming the offending field.
"""

from __future__ import annotations

from datetime import date, time, timedelta
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .durations import Duration

STAGES = ("acquisition", "development", "maintenance", "churn")
FLAGS = ("at_risk", "upgrade_candidate")
TIERS = ("A", "B", "C")


class PlaybookError(ValueError):
    """The playbooks file cannot be used; the message names the file and the field."""


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"

    @property
    def reaches_customer(self) -> bool:
        """Webhooks are tasks for staff: consent, quiet hours and caps are about customers."""
        return self is not Channel.WEBHOOK


class TriggerKind(StrEnum):
    STAGE_ENTERED = "stage_entered"
    FLAG_SET = "flag_set"
    FLAG_CLEARED = "flag_cleared"
    EVENT = "event"
    DATE = "date"  # a day in the customer's own calendar: birthday or a configured holiday
    SCORE_CROSSED = "score_crossed"  # a score from clm.customer-scores.v1 crosses a threshold
    TIER_ENTERED = "tier_entered"  # lifecycle's tier review moved the customer into a tier
    SEGMENT_ENTERED = "segment_entered"  # the customer entered an audience segment (audiences)


SCORES = ("churn_risk", "p_alive", "clv", "health_score")
DEFAULT_TASK_QUEUE = "account_managers"


Day = date  # `date` is also a trigger field name below


class DateKind(StrEnum):
    BIRTHDAY = "birthday"
    HOLIDAY = "holiday"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MonthDayValue(_Strict):
    month: int
    day: int
    year: int | None = None

    def falls_on(self, day: date) -> bool:
        return (self.year is None or self.year == day.year) and (self.month, self.day) == (
            day.month,
            day.day,
        )


def _month_day(value: object) -> object:
    if isinstance(value, date):
        return {"year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, str):
        parts = value.split("-")
        try:
            numbers = [int(p) for p in parts]
            if len(numbers) == 2:
                date(2000, numbers[0], numbers[1])  # 2000 is a leap year: 02-29 is allowed
                return {"month": numbers[0], "day": numbers[1]}
            if len(numbers) == 3:
                date(*numbers)
                return {"year": numbers[0], "month": numbers[1], "day": numbers[2]}
        except ValueError:
            pass
    raise ValueError("must be a date MM-DD (every year) or YYYY-MM-DD (that year)")


MonthDay = Annotated[MonthDayValue, BeforeValidator(_month_day)]


class TriggerSpec(_Strict):
    kind: TriggerKind
    stage: str | None = None
    flag: str | None = None
    tier: str | None = Field(default=None, description="for tier_entered: A | B | C")
    event: str | None = Field(
        default=None, description="customer event type, e.g. purchase or complaint.opened"
    )
    date: DateKind | None = None
    segment: str | None = Field(
        default=None, description="for segment_entered: the segment's name (POST /v1/segments)"
    )
    score: str | None = Field(default=None, description="churn_risk | p_alive | clv | health_score")
    above: float | None = Field(default=None, description="fires when the score rises above")
    below: float | None = Field(default=None, description="fires when the score falls below")
    holidays: dict[str, MonthDay] = Field(
        default_factory=dict, description="for date: holiday, name -> MM-DD or YYYY-MM-DD"
    )
    from_stages: tuple[str, ...] | None = Field(
        default=None,
        description="for stage_entered: only when the customer came from one of these stages "
        "(e.g. churn for a reactivation); default: from any",
    )
    unless_from_stages: tuple[str, ...] | None = Field(
        default=None,
        description="for stage_entered: not when the customer came from one of these stages",
    )

    @model_validator(mode="after")
    def _target_matches_kind(self) -> TriggerSpec:
        needed = {
            TriggerKind.STAGE_ENTERED: ("stage", STAGES),
            TriggerKind.FLAG_SET: ("flag", FLAGS),
            TriggerKind.FLAG_CLEARED: ("flag", FLAGS),
            TriggerKind.EVENT: ("event", None),
            TriggerKind.DATE: ("date", None),
            TriggerKind.SCORE_CROSSED: ("score", SCORES),
            TriggerKind.TIER_ENTERED: ("tier", TIERS),
            TriggerKind.SEGMENT_ENTERED: ("segment", None),
        }[self.kind]
        name, allowed = needed
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"a {self.kind.value} trigger needs '{name}'")
        if allowed is not None and value not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}")
        if self.kind is TriggerKind.SCORE_CROSSED and (self.above is None) == (self.below is None):
            raise ValueError("a score_crossed trigger needs exactly one of 'above' or 'below'")
        if self.date is DateKind.HOLIDAY and not self.holidays:
            raise ValueError("a holiday trigger needs 'holidays' (name: MM-DD or YYYY-MM-DD)")
        for name in ("from_stages", "unless_from_stages"):
            stages = getattr(self, name)
            if stages is None:
                continue
            if self.kind is not TriggerKind.STAGE_ENTERED:
                raise ValueError(f"{name} is only allowed with a stage_entered trigger")
            if not stages or any(s not in STAGES for s in stages):
                raise ValueError(f"{name} must be a non-empty list of {', '.join(STAGES)}")
        return self

    def came_from(self, stage: str | None) -> bool:
        """Whether leaving ``stage`` (None: unknown) for the trigger's stage starts it."""
        if self.from_stages is not None and stage not in self.from_stages:
            return False
        return self.unless_from_stages is None or stage not in self.unless_from_stages

    def crossed(self, previous: float | None, value: float | None) -> bool:
        """Moving across the threshold; a first score beyond it counts as crossing."""
        if value is None:
            return False
        if self.above is not None:
            return value > self.above and (previous is None or previous <= self.above)
        assert self.below is not None
        return value < self.below and (previous is None or previous >= self.below)

    def holidays_on(self, day: Day) -> list[str]:
        return [name for name, when in self.holidays.items() if when.falls_on(day)]


class Step(_Strict):
    name: str = Field(pattern=r"^[a-z0-9_]{1,48}$")
    channel: Channel
    template: str
    delay: Duration = timedelta(0)
    tiers: tuple[str, ...] | None = Field(
        default=None, description="only for customers in these tiers (default: every tier)"
    )
    coupon: bool = False
    repeat_every: Duration | None = Field(
        default=None,
        description="repeats this often after the first, while the customer stays in the stage",
    )
    queue: str | None = Field(
        default=None,
        description="webhook (human task) steps: the account-manager queue (policy.task_queues); "
        f"default {DEFAULT_TASK_QUEUE}",
    )

    @property
    def task_queue(self) -> str | None:
        """The queue of a human task; None for messages to the customer."""
        if self.channel is not Channel.WEBHOOK:
            return None
        return self.queue or DEFAULT_TASK_QUEUE

    @field_validator("repeat_every")
    @classmethod
    def _at_least_a_day(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < timedelta(days=1):
            raise ValueError("must be at least 1d")
        return value

    @field_validator("tiers")
    @classmethod
    def _known_tiers(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and (not value or any(t not in TIERS for t in value)):
            raise ValueError(f"tiers must be a non-empty list of {', '.join(TIERS)}")
        return value


class Playbook(_Strict):
    name: str = Field(pattern=r"^[a-z0-9_]{1,48}$")
    description: str = ""
    enabled: bool = True
    trigger: TriggerSpec
    steps: tuple[Step, ...] = Field(min_length=1)
    cancel_on: tuple[str, ...] = Field(
        default=(), description="customer event types that cancel steps not yet sent"
    )
    max_trigger_age: Duration = Field(
        default=timedelta(days=7), description="older triggers (backfills) are suppressed"
    )
    once_per_customer: bool = Field(
        default=False,
        description="a customer gets this playbook once, ever: later triggers are suppressed "
        "(reason once_per_customer)",
    )
    control_group: float = Field(
        default=0.0,
        ge=0.0,
        le=0.9,
        description="share of eligible customers held out (suppressed, reason control_group) "
        "to measure the playbook's uplift; assigned by a stable hash of customer, playbook and "
        "policy.control_salt",
    )

    @model_validator(mode="after")
    def _unique_steps(self) -> Playbook:
        names = [s.name for s in self.steps]
        if len(names) != len(set(names)):
            raise ValueError("step names must be unique within a playbook")
        return self

    @model_validator(mode="after")
    def _repeats_need_a_stage(self) -> Playbook:
        """A repeat runs while the customer stays in a stage; other triggers have no end."""
        if self.trigger.kind is TriggerKind.STAGE_ENTERED:
            return self
        for i, step in enumerate(self.steps):
            if step.repeat_every is not None:
                raise ValueError(
                    f"steps.{i}.repeat_every is only allowed with a stage_entered trigger"
                )
        return self

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)

    def steps_for_tier(self, tier: str) -> list[Step]:
        return [s for s in self.steps if s.tiers is None or tier in s.tiers]


class QuietHours(_Strict):
    start: time = time(21, 0)
    end: time = time(9, 0)
    enabled: bool = True


class FrequencyCap(_Strict):
    channel: Channel
    limit: int = Field(ge=1)
    window: Duration


class TaskQueue(_Strict):
    name: str = Field(pattern=r"^[a-z0-9_]{1,48}$")
    daily_capacity: int = Field(
        ge=0, description="human tasks a day (policy default_timezone days); the rest overflow"
    )


class ClvBand(_Strict):
    name: str
    min_clv: float


class Policy(_Strict):
    default_locale: str = "en"
    global_control_group: float = Field(
        default=0.0,
        ge=0.0,
        le=0.5,
        description="share of customers held out of every playbook (CLM_NOTIFY_GLOBAL_CONTROL_GROUP)",
    )
    control_salt: str = Field(
        default="clm-holdout-v1",
        min_length=1,
        description="salt of the arm hash; changing it reassigns every customer "
        "(CLM_NOTIFY_CONTROL_SALT)",
    )
    default_timezone: str = "Asia/Shanghai"
    quiet_hours: QuietHours = QuietHours()
    caps: tuple[FrequencyCap, ...] = ()
    task_queues: tuple[TaskQueue, ...] = (TaskQueue(name=DEFAULT_TASK_QUEUE, daily_capacity=20),)
    clv_bands: tuple[ClvBand, ...] = (
        ClvBand(name="high", min_clv=5000),
        ClvBand(name="medium", min_clv=1000),
        ClvBand(name="low", min_clv=0),
    )

    def clv_band(self, clv: float | None) -> str | None:
        if clv is None:
            return None
        for band in sorted(self.clv_bands, key=lambda b: -b.min_clv):
            if clv >= band.min_clv:
                return band.name
        return None

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("must be an IANA time zone, e.g. Asia/Shanghai") from exc
        return value

    def caps_for(self, channel: Channel) -> list[FrequencyCap]:
        return [c for c in self.caps if c.channel is channel]

    @property
    def queue_capacity(self) -> dict[str, int]:
        return {q.name: q.daily_capacity for q in self.task_queues}


class PlaybookBook(_Strict):
    policy: Policy = Policy()
    playbooks: tuple[Playbook, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> PlaybookBook:
        names = [p.name for p in self.playbooks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"playbook names must be unique: {', '.join(duplicates)}")
        return self

    @model_validator(mode="after")
    def _queues_exist(self) -> PlaybookBook:
        known = set(self.policy.queue_capacity)
        for i, playbook in enumerate(self.playbooks):
            for j, step in enumerate(playbook.steps):
                if step.queue is not None and step.channel is not Channel.WEBHOOK:
                    raise ValueError(f"playbooks.{i}.steps.{j}.queue: only webhook steps have one")
                if step.task_queue is not None and step.task_queue not in known:
                    raise ValueError(
                        f"playbooks.{i}.steps.{j}.queue: '{step.task_queue}' is not in "
                        "policy.task_queues"
                    )
        return self

    def get(self, name: str) -> Playbook | None:
        return next((p for p in self.playbooks if p.name == name), None)

    def task_queue_of(self, playbook: str, step: str) -> str | None:
        found = self.get(playbook)
        chosen = found.step(step) if found else None
        return chosen.task_queue if chosen else None

    @property
    def active(self) -> list[Playbook]:
        return [p for p in self.playbooks if p.enabled]

    @cached_property
    def active_by_kind(self) -> dict[TriggerKind, tuple[Playbook, ...]]:
        """The enabled playbooks by trigger kind, in book order: every observation asks which
        playbooks its trigger starts, and only those of its kind can match."""
        kinds: dict[TriggerKind, list[Playbook]] = {}
        for p in self.active:
            kinds.setdefault(p.trigger.kind, []).append(p)
        return {kind: tuple(found) for kind, found in kinds.items()}

    def date_playbooks(self) -> list[Playbook]:
        return [p for p in self.active if p.trigger.kind is TriggerKind.DATE]

    def templates_used(self) -> set[str]:
        return {s.template for p in self.playbooks for s in p.steps}


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(p) for p in err["loc"]) or "(file)"
        parts.append(f"{field}: {err['msg']}")
    return "; ".join(parts)


def parse_playbooks(raw: Any, source: str = "<playbooks>") -> PlaybookBook:
    try:
        return PlaybookBook.model_validate(raw)
    except ValidationError as exc:
        raise PlaybookError(f"{source}: {_describe(exc)}") from exc


def load_playbooks(path: Path) -> PlaybookBook:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PlaybookError(f"{path}: cannot read playbooks: {exc}") from exc
    return parse_playbooks(raw, str(path))
