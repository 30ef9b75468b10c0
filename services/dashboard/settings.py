"""Dashboard settings: where it finds the other services (env prefix CLM_DASHBOARD_).

The CLM_LIFECYCLE_ names the dashboard had while it lived in lifecycle still work (outside
names are kept): CLM_DASHBOARD_SCORING_URL or else CLM_LIFECYCLE_SCORING_URL, and so on.
Its database is only the platform's API key table (shared/auth.py), to check the caller's key
before it calls anyone; every figure comes from the services' APIs.
"""

from functools import lru_cache

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


def _named(field: str) -> AliasChoices:
    return AliasChoices(f"CLM_DASHBOARD_{field}", f"CLM_LIFECYCLE_{field}")


class DashboardSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CLM_DASHBOARD_", extra="ignore")

    service_name: str = "dashboard"
    # Lifecycle's API (stages, transitions, at-risk customers); a new name: no old alias.
    lifecycle_url: str = "http://127.0.0.1:8002"
    db_pool_size: int = 2  # the key store's lookups only (cached): no figure reads the database
    scoring_url: str = Field(
        default="http://127.0.0.1:8003", validation_alias=_named("SCORING_URL")
    )
    notify_url: str = Field(default="http://127.0.0.1:8004", validation_alias=_named("NOTIFY_URL"))
    upstream_timeout_seconds: float = Field(
        default=10.0, validation_alias=_named("UPSTREAM_TIMEOUT_SECONDS")
    )
    upstream_concurrency: int = Field(default=16, validation_alias=_named("UPSTREAM_CONCURRENCY"))


@lru_cache
def get_dashboard_settings() -> DashboardSettings:
    return DashboardSettings()
