"""Lifecycle settings (env prefix CLM_LIFECYCLE_)."""

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

DEFAULT_RULES = Path(__file__).with_name("rules.default.yaml")


class ClockMode(StrEnum):
    WALL = "wall"  # live operation: time-driven changes happen as real time passes
    EVENT_TIME = "event_time"  # backfills: the clock is the latest occurred_at seen


class LifecycleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CLM_LIFECYCLE_", extra="ignore")

    service_name: str = "lifecycle"
    rules_path: Path = DEFAULT_RULES
    clock: ClockMode = ClockMode.WALL
    consumer_group: str = "clm-lifecycle"
    # Overridable for isolated tests and replays; production keeps the contract's topic.
    events_topic: str = "clm.customer-events.v1"
    # Churn-risk readings for the at_risk rule: their own group, topic and dedup rows.
    scores_consumer_group: str = "clm-lifecycle-scores"
    scores_topic: str = "clm.customer-scores.v1"
    scores_max_records: int = Field(default=5000, ge=1)
    # event_time clock: events dated more than this past the wall clock never move it.
    event_time_max_ahead_seconds: float = Field(default=3600, ge=0)
    # Group members in this process. 2 ran 1.24x faster in bench/ (2,327 vs 1,871 events/s at
    # 1M events / 100k customers) but took 408 MB against the 300 MB budget: 1 by default.
    consumer_members: int = Field(default=1, ge=1, le=12)
    # Larger batches do less work per event but hold more memory: the largest that keeps
    # bench.lifecycle at 1M events / 100k customers within the 300 MB budget (README).
    consumer_max_records: int = 30_000
    # A batch's customers split into this many concurrent transactions, so the service derives
    # one part while PostgreSQL writes another (each part its own customers and event ids).
    transactions_per_batch: int = Field(default=2, ge=1, le=8)
    consumer_fetch_max_bytes: int = 8 * 1024 * 1024
    scheduler_interval_seconds: float = 1.0
    scheduler_batch_size: int = 5000
    scheduler_workers: int = Field(default=2, ge=1, le=8)  # concurrent claim-derive-save loops
    outbox_batch_size: int = 5000
    run_consumer: bool = True
    run_scheduler: bool = True
    # GDPR erasure: keep anonymous aggregates under a pseudonymous id instead of deleting
    # every row (services/lifecycle/adapters/erasure.py lists exactly what is kept).
    erasure_keep_aggregates: bool = False
    # Where the operator dashboard is served (services/dashboard, its own service): lifecycle
    # answers the dashboard's old paths here with a 307 to this address, as users' browsers
    # reach it (a public URL, not a peer's in-cluster name).
    dashboard_url: str = "http://127.0.0.1:8006"


@lru_cache
def get_settings() -> LifecycleSettings:
    return LifecycleSettings()
