"""Where the CLI finds the platform: env-driven, defaulting to the local stack.

A URL left unset follows the local stack's port variables (CLM_INGEST_PORT...), so a stack
started on other ports is the one the CLI talks to (and sends its key to).
"""

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[1]


def _local(port_variable: str, default: int) -> str:
    return f"http://127.0.0.1:{os.environ.get(port_variable) or default}"


class CliSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLM_", extra="ignore")

    api_key: str | None = None
    ingest_url: str = Field(default_factory=lambda: _local("CLM_INGEST_PORT", 8001))
    lifecycle_url: str = Field(default_factory=lambda: _local("CLM_LIFECYCLE_PORT", 8002))
    scoring_url: str = Field(default_factory=lambda: _local("CLM_SCORING_PORT", 8003))
    notify_url: str = Field(default_factory=lambda: _local("CLM_NOTIFY_PORT", 8004))
    # The local mail/SMS/webhook sink `make run` starts (deploy/local/sink).
    sink_url: str = Field(default_factory=lambda: _local("CLM_SINK_HTTP_PORT", 9010))
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
