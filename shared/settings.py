"""Settings common to every service; each service subclasses with its own prefix and fields.

The platform-wide variables (CLM_ENVIRONMENT, CLM_LOG_LEVEL, CLM_ERASURE_SECRET,
KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL) are read by these exact names in every service: a
subclass's `env_prefix` (CLM_INGEST_, ...) applies only to fields without an alias.
"""

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.business_calendar import BusinessCalendar, business_zone

# The keyed hash of erased customer ids (shared/erasure.py) must use the same secret in every
# service; this development default is refused outside the local and test environments.
LOCAL_ERASURE_SECRET = "clm-local-erasure-secret"
LOCAL_DATABASE_PASSWORD = "clm:clm@"
_SECRET_SUFFIXES = ("_secret", "_password", "_token")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

Environment = Literal["local", "test", "staging", "production"]
DEVELOPMENT: frozenset[str] = frozenset({"local", "test"})


def is_placeholder(value: str) -> bool:
    """A value shipped as an example or development default, never a real secret."""
    return "change-me" in value.lower() or value == LOCAL_ERASURE_SECRET


class ServiceSettings(BaseSettings):
    # populate_by_name: tests and tools may pass ServiceSettings(environment=...) directly.
    model_config = SettingsConfigDict(env_prefix="CLM_", extra="ignore", populate_by_name=True)

    service_name: str = "clm"
    environment: Environment = Field(
        default="local",
        validation_alias="CLM_ENVIRONMENT",
        description="local | test | staging | production (staging and production refuse "
        "placeholder secrets)",
    )
    log_level: str = Field(default="INFO", validation_alias="CLM_LOG_LEVEL")
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    database_url: str = Field(
        default="postgresql+asyncpg://clm:clm@127.0.0.1:55432/clm", validation_alias="DATABASE_URL"
    )
    db_pool_size: int = 10
    api_key_cache_seconds: float = 30.0
    readiness_timeout_seconds: float = 2.0
    reporting_currency: str = Field(
        default="CNY",
        validation_alias="CLM_REPORTING_CURRENCY",
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code every money figure of every service is reported in",
    )
    # A consumer working on the same batch (same offsets) longer than this is reported stuck:
    # /readyz's body and the clm_consumer_stuck gauge (shared/consumer_progress.py).
    consumer_stuck_after_seconds: float = Field(
        default=60.0, gt=0, validation_alias="CLM_CONSUMER_STUCK_AFTER_SECONDS"
    )
    # Outbox relays LISTEN for the commit that wrote their rows (shared/outbox.py); false
    # where LISTEN is unavailable (e.g. PgBouncer in transaction mode): they poll only.
    outbox_listen: bool = Field(default=True, validation_alias="CLM_OUTBOX_LISTEN")
    erasure_secret: str = Field(
        default=LOCAL_ERASURE_SECRET, validation_alias="CLM_ERASURE_SECRET", min_length=16
    )
    # Calendar days, quarters and years of occasions, tiers, upgrade triggers and RFM: one
    # IANA zone for every service (shared/business_calendar.py).
    business_timezone: str = Field(default="UTC", validation_alias="CLM_BUSINESS_TIMEZONE")

    @field_validator("business_timezone")
    @classmethod
    def _an_iana_zone(cls, name: str) -> str:
        business_zone(name)  # an unknown name stops the service at start-up, saying so
        return name

    @property
    def business_calendar(self) -> BusinessCalendar:
        return BusinessCalendar.named(self.business_timezone)

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        if value.upper() not in _LOG_LEVELS:
            raise ValueError(f"CLM_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}")
        return value.upper()

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable a field is read from."""
        alias = cls.model_fields[field].validation_alias
        if isinstance(alias, str):
            return alias
        return f"{cls.model_config.get('env_prefix', '')}{field}".upper()

    @model_validator(mode="after")
    def _refuse_placeholders_outside_development(self) -> "ServiceSettings":
        if self.environment in DEVELOPMENT:
            return self
        refused = [
            self.env_name(name)
            for name, value in self._secrets().items()
            if isinstance(value, str) and is_placeholder(value)
        ]
        url = self.database_url
        if LOCAL_DATABASE_PASSWORD in url or is_placeholder(url):
            refused.insert(0, "DATABASE_URL")
        if refused:
            raise ValueError(
                f"{', '.join(refused)}: a placeholder or development default in the "
                f"{self.environment} environment; "
                "set real secrets (or CLM_ENVIRONMENT=local for development)"
            )
        return self

    def _secrets(self) -> dict[str, Any]:
        return {
            n: getattr(self, n) for n in type(self).model_fields if n.endswith(_SECRET_SUFFIXES)
        }
