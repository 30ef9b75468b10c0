"""Audiences settings (env prefix CLM_AUDIENCES_)."""

from datetime import UTC, datetime, timedelta
from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class AudiencesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CLM_AUDIENCES_", extra="ignore")

    service_name: str = "audiences"
    # Shifts the service's clock (tests and what-ifs: "forty days later"); 0 in production.
    clock_offset_seconds: float = 0.0

    consumer_group: str = "clm-audiences"
    lifecycle_topic: str = "clm.lifecycle-changes.v1"
    scores_topic: str = "clm.customer-scores.v1"
    events_topic: str = "clm.customer-events.v1"
    consumer_max_records: int = 2000
    run_consumer: bool = True
    outbox_batch_size: int = 2000

    # New segments are looked for (and built) this often.
    build_interval_seconds: float = 1.0
    # Purchase windows and CLV percentiles are re-evaluated this often (percentiles first).
    sweep_interval_seconds: float = 300.0
    run_sweeper: bool = True
    sweep_chunk_size: int = 2000

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset_seconds)


@lru_cache
def get_settings() -> AudiencesSettings:
    return AudiencesSettings()
