"""Where the CLI finds the platform: env-driven, defaulting to the local stack."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[1]


class CliSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLM_", extra="ignore")

    api_key: str | None = None
    ingest_url: str = "http://127.0.0.1:8001"
    lifecycle_url: str = "http://127.0.0.1:8002"
    scoring_url: str = "http://127.0.0.1:8003"
    notify_url: str = "http://127.0.0.1:8004"
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    database_url: str = Field(
        default="postgresql+asyncpg://clm:clm@127.0.0.1:55432/clm", validation_alias="DATABASE_URL"
    )
    state_dir: Path = ROOT / ".state"
    http_timeout_seconds: float = 30.0

    def key(self) -> str | None:
        """CLM_API_KEY, else the development key `make run` keeps in .state/dev-api-key."""
        if self.api_key:
            return self.api_key
        path = self.state_dir / "dev-api-key"
        return path.read_text().strip() if path.exists() else None

    def service_url(self, service: str) -> str:
        return str(getattr(self, f"{service}_url")).rstrip("/")
