"""Settings common to every service; each service subclasses with its own prefix and fields."""

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The keyed hash of erased customer ids (shared/erasure.py) must use the same secret in every
# service; this development default is refused outside the local and test environments.
LOCAL_ERASURE_SECRET = "clm-local-erasure-secret"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLM_", extra="ignore")

    service_name: str = "clm"
    environment: str = Field(default="local", description="local | test | production")
    log_level: str = "INFO"
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    database_url: str = Field(
        default="postgresql+asyncpg://clm:clm@127.0.0.1:55432/clm", validation_alias="DATABASE_URL"
    )
    db_pool_size: int = 10
    api_key_cache_seconds: float = 30.0
    readiness_timeout_seconds: float = 2.0
    # A consumer working on the same batch (same offsets) longer than this is reported stuck:
    # /readyz's body and the clm_consumer_stuck gauge (shared/consumer_progress.py).
    consumer_stuck_after_seconds: float = Field(
        default=60.0, gt=0, validation_alias="CLM_CONSUMER_STUCK_AFTER_SECONDS"
    )
    erasure_secret: str = Field(
        default=LOCAL_ERASURE_SECRET, validation_alias="CLM_ERASURE_SECRET", min_length=16
    )

    @model_validator(mode="after")
    def _refuse_local_defaults_in_production(self) -> "ServiceSettings":
        if self.environment == "production" and "clm:clm@" in self.database_url:
            raise ValueError("DATABASE_URL uses the local development password in production")
        if (
            self.environment not in ("local", "test")
            and self.erasure_secret == LOCAL_ERASURE_SECRET
        ):
            raise ValueError(
                f"CLM_ERASURE_SECRET must be set in the {self.environment} environment"
            )
        return self
