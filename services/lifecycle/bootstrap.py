"""Composition root: the rules and the use cases wired from settings."""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from services.lifecycle.domain import LifecycleRules, load_rules
from services.lifecycle.service_layer.processing import SCORES_DEDUP_OWNER, LifecycleProcessor

from .settings import LifecycleSettings


def load_configured_rules(settings: LifecycleSettings) -> LifecycleRules:
    """Raises RulesError naming the file and field (or the time zone) when anything is wrong."""
    return load_rules(settings.rules_path, settings.business_timezone)


@dataclass(frozen=True)
class Processors:
    events: LifecycleProcessor
    """Customer events: they move the event-time clock."""
    scores: LifecycleProcessor
    """Score readings: the same transaction rules, their own dedup rows; they never move the
    event-time clock (scoring dates them by its wall clock)."""


def build_processors(
    settings: LifecycleSettings, engine: AsyncEngine, rules: LifecycleRules
) -> Processors:
    max_ahead = timedelta(seconds=settings.event_time_max_ahead_seconds)
    events = LifecycleProcessor(
        engine,
        rules,
        settings.clock,
        erasure_secret=settings.erasure_secret,
        transactions_per_batch=settings.transactions_per_batch,
        reporting_currency=settings.reporting_currency,
        event_time_max_ahead=max_ahead,
    )
    scores = LifecycleProcessor(
        engine,
        rules,
        settings.clock,
        dedup_owner=SCORES_DEDUP_OWNER,
        erasure_secret=settings.erasure_secret,
        transactions_per_batch=1,
        moves_clock=False,
        reporting_currency=settings.reporting_currency,
        event_time_max_ahead=max_ahead,
    )
    return Processors(events, scores)
