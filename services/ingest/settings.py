"""Ingest settings (env prefix CLM_INGEST_; Kafka and database from the common names)."""

import os
import socket
from functools import lru_cache

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CLM_INGEST_", extra="ignore")

    service_name: str = "ingest"
    max_batch_events: int = 1000
    max_batch_bytes: int = 5 * 1024 * 1024
    max_event_bytes: int = 64 * 1024
    publish_timeout_seconds: float = 5.0
    # How far ahead of this server's clock an event's occurred_at may be (clocks drift).
    max_future_skew_seconds: float = Field(default=3600.0, ge=0)
    # Single events are sent as they come: aiokafka keeps one produce request in flight per
    # broker, so under load the records queued behind it are batched anyway, and at low rates a
    # linger would only add its own length to every request's latency.
    single_linger_ms: int = Field(default=0, ge=0)
    retry_after_seconds: int = 5
    transactional_producers: int = Field(default=4, ge=1, le=32)
    instance_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    recent_ids_capacity: int = 200_000
    compression: str = "lz4"
    # Overridable so benchmarks can write to a scratch topic; production keeps the contract's.
    topic: str = "clm.customer-events.v1"


@lru_cache
def get_settings() -> IngestSettings:
    return IngestSettings()
