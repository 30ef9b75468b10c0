"""Notify settings (env prefix CLM_NOTIFY_)."""

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_settings import SettingsConfigDict

from services.notify.domain.durations import parse_duration
from shared.settings import ServiceSettings

HERE = Path(__file__).parent
DEFAULT_PLAYBOOKS = HERE / "playbooks.default.yaml"
DEFAULT_TEMPLATES = HERE / "templates.default.yaml"
# Refused in production like every placeholder (shared/settings.py).
_DEV_SECRET = "dev-only-change-me"


def _duration_or_seconds(value: Any) -> Any:
    """`10m` as in the playbooks file, or a bare number of seconds (`600`)."""
    if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
        return parse_duration(float(value))
    return parse_duration(value)


SettingDuration = Annotated[timedelta, BeforeValidator(_duration_or_seconds)]


class NotifySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CLM_NOTIFY_", extra="ignore")

    service_name: str = "notify"
    playbooks_path: Path = DEFAULT_PLAYBOOKS
    templates_path: Path = DEFAULT_TEMPLATES
    # Shifts the service's clock (tests and what-ifs: "three days later"); 0 in production.
    clock_offset_seconds: float = 0.0

    consumer_group: str = "clm-notify"
    lifecycle_topic: str = "clm.lifecycle-changes.v1"
    events_topic: str = "clm.customer-events.v1"
    scores_topic: str = "clm.customer-scores.v1"
    run_scores_consumer: bool = True
    # Entries into audience segments (services/audiences): playbooks with segment_entered.
    segments_topic: str = "clm.segment-memberships.v1"
    run_segments_consumer: bool = True
    consumer_max_records: int = 2000
    # A batch's customers split into this many concurrent transactions, so the intake plans
    # one part while PostgreSQL writes another (each part its own customers and event ids).
    transactions_per_batch: int = Field(default=2, ge=1, le=8)
    run_consumer: bool = True
    run_sender: bool = True
    outbox_batch_size: int = 2000

    # Birthday and holiday playbooks: how often today's candidates are scanned.
    calendar_interval_seconds: float = 900.0
    run_calendar: bool = True

    sender_interval_seconds: float = 0.5
    sender_batch_size: int = 200
    sender_concurrency: int = 32
    # A message claimed for sending whose outcome is unknown after this long (the instance
    # died mid-send) is marked failed, never re-sent: at most once beats at least once here.
    sending_lease_seconds: float = 300.0
    max_attempts: int = 6
    # A due step whose customer has no address yet waits this long (from the trigger, or
    # from its arrival when it came late) for the profile event, which travels on another
    # topic and can lose the race; only then is it suppressed no_address:<channel>.
    address_grace: SettingDuration = timedelta(minutes=10)
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 3600.0

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_use_tls: bool = False  # implicit TLS (port 465)
    smtp_start_tls: bool = False  # STARTTLS (port 587)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_sender: str = "Customer Care <care@clm.example>"
    smtp_timeout_seconds: float = 10.0

    sms_base_url: str = "http://127.0.0.1:9010"
    sms_token: str = ""
    sms_sender_id: str = "CLM"
    http_timeout_seconds: float = 10.0

    webhook_url: str = "http://127.0.0.1:9011/tasks"
    webhook_secret: str = _DEV_SECRET
    coupon_secret: str = _DEV_SECRET
    # Where customers reach notify from outside: the base of the one-click unsubscribe links.
    public_url: str = "http://127.0.0.1:8004"
    unsubscribe_secret: str = _DEV_SECRET

    # Control groups (README "Control groups and measured uplift"): each playbook's share is
    # its `control_group` in the playbooks file; these override the file's policy when set.
    global_control_group: float | None = Field(default=None, ge=0.0, le=0.5)
    control_salt: str | None = Field(default=None, min_length=1)
    # Outcomes count this long after each trigger (GET /v1/playbooks/{name}/impact).
    impact_window_days: float = Field(default=30.0, gt=0, le=366)
    # What one message costs, per channel, in the reporting currency (a staff task: its time).
    channel_costs: dict[str, float] = Field(
        default_factory=lambda: {"email": 0.01, "sms": 0.3, "webhook": 20.0}
    )

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset_seconds)


@lru_cache
def get_settings() -> NotifySettings:
    return NotifySettings()
