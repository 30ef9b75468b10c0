"""Every documented environment variable takes effect in the settings of the services that read
it, and production refuses placeholder secrets (README "Configuration")."""

import logging
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from clm_cli.settings import CliSettings
from services.audiences.settings import AudiencesSettings
from services.dashboard.settings import DashboardSettings
from services.ingest.settings import IngestSettings
from services.lifecycle.settings import LifecycleSettings
from services.notify.settings import NotifySettings
from services.scoring.settings import ScoringSettings
from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[3]
SERVICES: list[type[ServiceSettings]] = [
    IngestSettings,
    LifecycleSettings,
    ScoringSettings,
    NotifySettings,
    AudiencesSettings,
]
REAL_SECRETS = {
    "DATABASE_URL": "postgresql+asyncpg://clm:s3cr3t-from-vault@db:5432/clm",
    "CLM_ERASURE_SECRET": "a-long-random-erasure-secret-0123456789",
    "CLM_NOTIFY_WEBHOOK_SECRET": "whsec-0123456789abcdef",
    "CLM_NOTIFY_COUPON_SECRET": "coupon-0123456789abcdef",
    "CLM_NOTIFY_UNSUBSCRIBE_SECRET": "unsub-0123456789abcdef",
    "CLM_NOTIFY_SMS_TOKEN": "sms-token-0123456789abcdef",
}

# (variable, value, settings classes that must read it, attribute, expected value)
PLATFORM_WIDE: list[tuple[str, str, str, Any]] = [
    ("CLM_ENVIRONMENT", "test", "environment", "test"),
    ("CLM_LOG_LEVEL", "debug", "log_level", "DEBUG"),
    ("CLM_ERASURE_SECRET", "another-erasure-secret-42", "erasure_secret", "another-erasure-secret-42"),
    ("CLM_REPORTING_CURRENCY", "EUR", "reporting_currency", "EUR"),
    ("CLM_BUSINESS_TIMEZONE", "Asia/Shanghai", "business_timezone", "Asia/Shanghai"),
    ("CLM_CONSUMER_STUCK_AFTER_SECONDS", "15", "consumer_stuck_after_seconds", 15.0),
    ("CLM_OUTBOX_LISTEN", "false", "outbox_listen", False),
    ("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092", "kafka_bootstrap_servers", "kafka-1:9092"),
    ("DATABASE_URL", "postgresql+asyncpg://u:p@db/clm", "database_url", "postgresql+asyncpg://u:p@db/clm"),
]  # fmt: skip

PER_SERVICE: list[tuple[str, str, type[BaseSettings], str, Any]] = [
    ("CLM_INGEST_MAX_BATCH_EVENTS", "500", IngestSettings, "max_batch_events", 500),
    ("CLM_INGEST_MAX_BATCH_BYTES", "1048576", IngestSettings, "max_batch_bytes", 1048576),
    ("CLM_INGEST_PUBLISH_TIMEOUT_SECONDS", "2.5", IngestSettings, "publish_timeout_seconds", 2.5),
    ("CLM_INGEST_TRANSACTIONAL_PRODUCERS", "2", IngestSettings, "transactional_producers", 2),
    ("CLM_INGEST_DB_POOL_SIZE", "3", IngestSettings, "db_pool_size", 3),
    ("CLM_INGEST_MAX_FUTURE_SKEW_SECONDS", "60", IngestSettings, "max_future_skew_seconds", 60.0),
    ("CLM_LIFECYCLE_SCORES_TOPIC", "t.s", LifecycleSettings, "scores_topic", "t.s"),
    ("CLM_LIFECYCLE_SCORES_CONSUMER_GROUP", "ls2", LifecycleSettings, "scores_consumer_group", "ls2"),
    ("CLM_LIFECYCLE_SCORES_MAX_RECORDS", "100", LifecycleSettings, "scores_max_records", 100),
    ("CLM_LIFECYCLE_EVENT_TIME_MAX_AHEAD_SECONDS", "120", LifecycleSettings, "event_time_max_ahead_seconds", 120.0),
    ("CLM_SCORING_FIRST_ORDER_WEIGHT", "0.5", ScoringSettings, "first_order_weight", 0.5),
    ("CLM_NOTIFY_PUBLIC_URL", "https://care.example", NotifySettings, "public_url", "https://care.example"),
    ("CLM_NOTIFY_UNSUBSCRIBE_SECRET", "unsub-42", NotifySettings, "unsubscribe_secret", "unsub-42"),
    ("CLM_SINK_URL", "http://sink:9", CliSettings, "sink_url", "http://sink:9"),
    ("CLM_AUDIENCES_CONSUMER_GROUP", "a2", AudiencesSettings, "consumer_group", "a2"),
    ("CLM_AUDIENCES_CONSUMER_MAX_RECORDS", "500", AudiencesSettings, "consumer_max_records", 500),
    ("CLM_AUDIENCES_RUN_CONSUMER", "false", AudiencesSettings, "run_consumer", False),
    ("CLM_AUDIENCES_RUN_SWEEPER", "false", AudiencesSettings, "run_sweeper", False),
    ("CLM_AUDIENCES_BUILD_INTERVAL_SECONDS", "5", AudiencesSettings, "build_interval_seconds", 5.0),
    ("CLM_AUDIENCES_SWEEP_INTERVAL_SECONDS", "60", AudiencesSettings, "sweep_interval_seconds", 60.0),
    ("CLM_AUDIENCES_SWEEP_CHUNK_SIZE", "500", AudiencesSettings, "sweep_chunk_size", 500),
    ("CLM_AUDIENCES_CLOCK_OFFSET_SECONDS", "86400", AudiencesSettings, "clock_offset_seconds", 86400.0),
    ("CLM_NOTIFY_SEGMENTS_TOPIC", "t.seg", NotifySettings, "segments_topic", "t.seg"),
    ("CLM_NOTIFY_RUN_SEGMENTS_CONSUMER", "false", NotifySettings, "run_segments_consumer", False),
    ("CLM_NOTIFY_TRANSACTIONS_PER_BATCH", "3", NotifySettings, "transactions_per_batch", 3),
    ("CLM_LIFECYCLE_RULES_PATH", "/etc/clm/rules.yaml", LifecycleSettings, "rules_path", Path("/etc/clm/rules.yaml")),
    ("CLM_LIFECYCLE_CLOCK", "event_time", LifecycleSettings, "clock", "event_time"),
    ("CLM_LIFECYCLE_CONSUMER_GROUP", "g2", LifecycleSettings, "consumer_group", "g2"),
    ("CLM_LIFECYCLE_CONSUMER_MEMBERS", "2", LifecycleSettings, "consumer_members", 2),
    ("CLM_LIFECYCLE_CONSUMER_MAX_RECORDS", "1000", LifecycleSettings, "consumer_max_records", 1000),
    ("CLM_LIFECYCLE_CONSUMER_FETCH_MAX_BYTES", "1024", LifecycleSettings, "consumer_fetch_max_bytes", 1024),
    ("CLM_LIFECYCLE_TRANSACTIONS_PER_BATCH", "3", LifecycleSettings, "transactions_per_batch", 3),
    ("CLM_LIFECYCLE_SCHEDULER_INTERVAL_SECONDS", "7", LifecycleSettings, "scheduler_interval_seconds", 7.0),
    ("CLM_LIFECYCLE_SCHEDULER_BATCH_SIZE", "70", LifecycleSettings, "scheduler_batch_size", 70),
    ("CLM_LIFECYCLE_SCHEDULER_WORKERS", "3", LifecycleSettings, "scheduler_workers", 3),
    ("CLM_LIFECYCLE_RUN_CONSUMER", "false", LifecycleSettings, "run_consumer", False),
    ("CLM_LIFECYCLE_RUN_SCHEDULER", "false", LifecycleSettings, "run_scheduler", False),
    ("CLM_LIFECYCLE_ERASURE_KEEP_AGGREGATES", "true", LifecycleSettings, "erasure_keep_aggregates", True),
    ("CLM_SCORING_ERASURE_KEEP_AGGREGATES", "true", ScoringSettings, "erasure_keep_aggregates", True),
    ("CLM_LIFECYCLE_SCORING_URL", "http://scoring:8003", DashboardSettings, "scoring_url", "http://scoring:8003"),
    ("CLM_LIFECYCLE_NOTIFY_URL", "http://notify:8004", DashboardSettings, "notify_url", "http://notify:8004"),
    ("CLM_DASHBOARD_SCORING_URL", "http://scoring:8003", DashboardSettings, "scoring_url", "http://scoring:8003"),
    ("CLM_DASHBOARD_NOTIFY_URL", "http://notify:8004", DashboardSettings, "notify_url", "http://notify:8004"),
    ("CLM_DASHBOARD_LIFECYCLE_URL", "http://lifecycle:8002", DashboardSettings, "lifecycle_url", "http://lifecycle:8002"),
    ("CLM_LIFECYCLE_DASHBOARD_URL", "https://dash.example", LifecycleSettings, "dashboard_url", "https://dash.example"),
    ("CLM_DASHBOARD_DB_POOL_SIZE", "3", DashboardSettings, "db_pool_size", 3),
    ("CLM_DASHBOARD_UPSTREAM_TIMEOUT_SECONDS", "2.5", DashboardSettings, "upstream_timeout_seconds", 2.5),
    ("CLM_SCORING_CHURN_HORIZON_DAYS", "30", ScoringSettings, "churn_horizon_days", 30.0),
    ("CLM_SCORING_COMPLAINT_WEIGHT", "0.7", ScoringSettings, "complaint_weight", 0.7),
    ("CLM_SCORING_CONTACT_WEIGHT", "0.1", ScoringSettings, "contact_weight", 0.1),
    ("CLM_SCORING_SIGNAL_WINDOW_DAYS", "45", ScoringSettings, "signal_window_days", 45.0),
    ("CLM_SCORING_CLV_HORIZON_MONTHS", "24", ScoringSettings, "clv_horizon_months", 24),
    ("CLM_SCORING_MONTHLY_DISCOUNT_RATE", "0.02", ScoringSettings, "monthly_discount_rate", 0.02),
    ("CLM_SCORING_MARGIN", "0.3", ScoringSettings, "margin", 0.3),
    ("CLM_SCORING_REFIT_INTERVAL_HOURS", "0", ScoringSettings, "refit_interval_hours", 0.0),
    ("CLM_SCORING_REFIT_TIME_UNIT", "month", ScoringSettings, "refit_time_unit", "month"),
    ("CLM_SCORING_CONSUMER_GROUP", "s2", ScoringSettings, "consumer_group", "s2"),
    ("CLM_SCORING_CONSUMER_MAX_RECORDS", "500", ScoringSettings, "consumer_max_records", 500),
    ("CLM_SCORING_CONSUMER_MEMBERS", "1", ScoringSettings, "consumer_members", 1),
    ("CLM_SCORING_RESCORE_CHUNK_SIZE", "5000", ScoringSettings, "rescore_chunk_size", 5000),
    ("CLM_SCORING_MODEL_REFRESH_SECONDS", "1.5", ScoringSettings, "model_refresh_seconds", 1.5),
    ("CLM_NOTIFY_PLAYBOOKS_PATH", "/etc/clm/p.yaml", NotifySettings, "playbooks_path", Path("/etc/clm/p.yaml")),
    ("CLM_NOTIFY_CONSUMER_MAX_RECORDS", "500", NotifySettings, "consumer_max_records", 500),
    ("CLM_NOTIFY_TEMPLATES_PATH", "/etc/clm/t.yaml", NotifySettings, "templates_path", Path("/etc/clm/t.yaml")),
    ("CLM_NOTIFY_SMTP_HOST", "mail", NotifySettings, "smtp_host", "mail"),
    ("CLM_NOTIFY_SMTP_PORT", "587", NotifySettings, "smtp_port", 587),
    ("CLM_NOTIFY_SMTP_USE_TLS", "true", NotifySettings, "smtp_use_tls", True),
    ("CLM_NOTIFY_SMTP_START_TLS", "true", NotifySettings, "smtp_start_tls", True),
    ("CLM_NOTIFY_SMTP_USERNAME", "care", NotifySettings, "smtp_username", "care"),
    ("CLM_NOTIFY_SMTP_PASSWORD", "pw-123", NotifySettings, "smtp_password", "pw-123"),
    ("CLM_NOTIFY_SMTP_SENDER", "Care <c@x.example>", NotifySettings, "smtp_sender", "Care <c@x.example>"),
    ("CLM_NOTIFY_SMTP_TIMEOUT_SECONDS", "3", NotifySettings, "smtp_timeout_seconds", 3.0),
    ("CLM_NOTIFY_SMS_BASE_URL", "http://sms:9010", NotifySettings, "sms_base_url", "http://sms:9010"),
    ("CLM_NOTIFY_SMS_TOKEN", "tok", NotifySettings, "sms_token", "tok"),
    ("CLM_NOTIFY_SMS_SENDER_ID", "SHOP", NotifySettings, "sms_sender_id", "SHOP"),
    ("CLM_NOTIFY_WEBHOOK_URL", "http://hook:9011/t", NotifySettings, "webhook_url", "http://hook:9011/t"),
    ("CLM_NOTIFY_WEBHOOK_SECRET", "whsec-42", NotifySettings, "webhook_secret", "whsec-42"),
    ("CLM_NOTIFY_COUPON_SECRET", "coupon-42", NotifySettings, "coupon_secret", "coupon-42"),
    ("CLM_NOTIFY_SENDER_BATCH_SIZE", "20", NotifySettings, "sender_batch_size", 20),
    ("CLM_NOTIFY_SENDER_CONCURRENCY", "4", NotifySettings, "sender_concurrency", 4),
    ("CLM_NOTIFY_SENDER_INTERVAL_SECONDS", "2", NotifySettings, "sender_interval_seconds", 2.0),
    ("CLM_NOTIFY_SENDING_LEASE_SECONDS", "60", NotifySettings, "sending_lease_seconds", 60.0),
    ("CLM_NOTIFY_MAX_ATTEMPTS", "3", NotifySettings, "max_attempts", 3),
    ("CLM_NOTIFY_ADDRESS_GRACE", "90s", NotifySettings, "address_grace", timedelta(seconds=90)),
    ("CLM_NOTIFY_RETRY_BASE_SECONDS", "5", NotifySettings, "retry_base_seconds", 5.0),
    ("CLM_NOTIFY_RETRY_MAX_SECONDS", "600", NotifySettings, "retry_max_seconds", 600.0),
    ("CLM_NOTIFY_CALENDAR_INTERVAL_SECONDS", "60", NotifySettings, "calendar_interval_seconds", 60.0),
    ("CLM_NOTIFY_CONSUMER_GROUP", "n2", NotifySettings, "consumer_group", "n2"),
    ("CLM_NOTIFY_LIFECYCLE_TOPIC", "t.l", NotifySettings, "lifecycle_topic", "t.l"),
    ("CLM_NOTIFY_EVENTS_TOPIC", "t.e", NotifySettings, "events_topic", "t.e"),
    ("CLM_NOTIFY_SCORES_TOPIC", "t.s", NotifySettings, "scores_topic", "t.s"),
    ("CLM_NOTIFY_RUN_CONSUMER", "false", NotifySettings, "run_consumer", False),
    ("CLM_NOTIFY_RUN_SCORES_CONSUMER", "false", NotifySettings, "run_scores_consumer", False),
    ("CLM_NOTIFY_RUN_SENDER", "false", NotifySettings, "run_sender", False),
    ("CLM_NOTIFY_RUN_CALENDAR", "false", NotifySettings, "run_calendar", False),
    ("CLM_NOTIFY_CLOCK_OFFSET_SECONDS", "3600", NotifySettings, "clock_offset_seconds", 3600.0),
    ("CLM_NOTIFY_GLOBAL_CONTROL_GROUP", "0.05", NotifySettings, "global_control_group", 0.05),
    ("CLM_NOTIFY_CONTROL_SALT", "q3-2026", NotifySettings, "control_salt", "q3-2026"),
    ("CLM_NOTIFY_IMPACT_WINDOW_DAYS", "14", NotifySettings, "impact_window_days", 14.0),
    ("CLM_NOTIFY_CHANNEL_COSTS", '{"email": 0.02, "sms": 0.5}', NotifySettings, "channel_costs", {"email": 0.02, "sms": 0.5}),
    ("CLM_API_KEY", "clm_k", CliSettings, "api_key", "clm_k"),
    ("CLM_INGEST_URL", "http://i:1", CliSettings, "ingest_url", "http://i:1"),
    ("CLM_LIFECYCLE_URL", "http://l:2", CliSettings, "lifecycle_url", "http://l:2"),
    ("CLM_SCORING_URL", "http://s:3", CliSettings, "scoring_url", "http://s:3"),
    ("CLM_NOTIFY_URL", "http://n:4", CliSettings, "notify_url", "http://n:4"),
]  # fmt: skip

# Documented variables that are no service's setting: the local stack, seeding and a test read them.
NOT_SETTINGS = {
    "CLM_KAFKA_PORT", "CLM_PG_PORT", "CLM_TOPIC_PARTITIONS", "CLM_SEED_DEMO",
    "CLM_SCALE_OUT_EVENTS", "CLM_KAFKA_CONTROLLER_PORT", "CLM_INGEST_PORT",
    "CLM_LIFECYCLE_PORT", "CLM_SCORING_PORT", "CLM_NOTIFY_PORT", "CLM_DASHBOARD_PORT",
    "CLM_AUDIENCES_PORT",
    # the local launcher's: its sink's ports and the access log (deploy/local/stack.py)
    "CLM_SINK_SMTP_PORT", "CLM_SINK_HTTP_PORT", "CLM_ACCESS_LOG",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CLM_") or name in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.__name__)
@pytest.mark.parametrize(("variable", "value", "field", "expected"), PLATFORM_WIDE)
def test_a_platform_wide_variable_takes_effect_in_every_service(
    monkeypatch: pytest.MonkeyPatch,
    service: type[ServiceSettings],
    variable: str,
    value: str,
    field: str,
    expected: Any,
) -> None:
    monkeypatch.setenv(variable, value)
    assert getattr(service(), field) == expected


@pytest.mark.parametrize(("variable", "value", "settings", "field", "expected"), PER_SERVICE)
def test_a_service_variable_takes_effect(
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    settings: type[BaseSettings],
    field: str,
    expected: Any,
) -> None:
    assert getattr(settings(), field) != expected  # the value differs from the default
    monkeypatch.setenv(variable, value)
    assert getattr(settings(), field) == expected


def _documented_variables() -> list[set[str]]:
    """Each variable the README names, as the set of names it may mean (one, but a suffix
    written `_Y` after `CLM_A_B_X` may extend CLM_A_ or CLM_A_B_)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    pattern = r"\b(?:CLM_[A-Z0-9_]*[A-Z0-9]|KAFKA_BOOTSTRAP_SERVERS|DATABASE_URL)\b"
    names = set(re.findall(pattern, text))
    # The notify table names its settings without the prefix it states once.
    table = text.split("**Settings** (env prefix `CLM_NOTIFY_`)", 1)[1].split("\n\n", 2)[1]
    names |= {f"CLM_NOTIFY_{n}" for n in re.findall(r"`([A-Z][A-Z0-9_]+)`", table)}
    names -= {"CLM_NOTIFY", "CLM_NOTIFY_CLM_ENVIRONMENT"}
    groups = [{n} for n in names]
    for first, suffixes in re.findall(r"`(CLM_[A-Z0-9_]+)`((?: / `_[A-Z0-9_]+`)+)", text):
        words = first.split("_")
        for suffix in re.findall(r"`(_[A-Z0-9_]+)`", suffixes):
            groups.append({"_".join(words[:n]) + suffix for n in range(2, len(words))})
    return groups


def test_every_documented_variable_has_a_test_that_it_takes_effect() -> None:
    tested = {v for v, *_ in PLATFORM_WIDE} | {v for v, *_ in PER_SERVICE} | NOT_SETTINGS
    assert [sorted(g) for g in _documented_variables() if not g & tested] == []


def test_the_log_level_setting_sets_the_level_of_the_logs() -> None:
    # In a child process: configuring logging here would change it for the other tests.
    program = (
        "import logging; from services.ingest.settings import IngestSettings; "
        "from shared.logging import configure_logging; s = IngestSettings(); "
        "configure_logging(s.service_name, s.log_level); print(logging.getLogger().level)"
    )
    env = {"PATH": os.environ.get("PATH", ""), "CLM_LOG_LEVEL": "warning"}
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert done.stdout.strip() == str(logging.WARNING), done.stderr


def test_an_unknown_environment_or_log_level_stops_the_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLM_ENVIRONMENT", "prod")
    with pytest.raises(ValidationError, match="CLM_ENVIRONMENT"):
        IngestSettings()
    monkeypatch.setenv("CLM_ENVIRONMENT", "local")
    monkeypatch.setenv("CLM_LOG_LEVEL", "LOUD")
    with pytest.raises(ValidationError, match="CLM_LOG_LEVEL"):
        IngestSettings()


def _shipped_k8s_environment() -> dict[str, str]:
    """The ConfigMap data and Secret stringData every Deployment of deploy/k8s loads."""
    env: dict[str, str] = {}
    for path in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("kind") in ("ConfigMap", "Secret"):
                env.update(doc.get("data") or {})
                env.update(doc.get("stringData") or {})
    return env


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.__name__)
def test_the_shipped_k8s_config_starts_in_production_and_refuses_its_placeholders(
    monkeypatch: pytest.MonkeyPatch, service: type[ServiceSettings]
) -> None:
    shipped = _shipped_k8s_environment()
    assert shipped["CLM_ENVIRONMENT"] == "production"
    for name, value in shipped.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match="placeholder"):
        service()
    for name, value in REAL_SECRETS.items():
        monkeypatch.setenv(name, value)
    assert service().environment == "production"


@pytest.mark.parametrize(
    ("variable", "placeholder", "service"),
    [
        ("DATABASE_URL", "postgresql+asyncpg://clm:clm@db:5432/clm", IngestSettings),
        ("DATABASE_URL", "postgresql+asyncpg://clm:CHANGE-ME@db:5432/clm", ScoringSettings),
        ("CLM_ERASURE_SECRET", "clm-local-erasure-secret", LifecycleSettings),
        ("CLM_ERASURE_SECRET", "CHANGE-ME-TO-A-LONG-RANDOM-VALUE", IngestSettings),
        ("CLM_NOTIFY_WEBHOOK_SECRET", "dev-only-change-me", NotifySettings),
        ("CLM_NOTIFY_COUPON_SECRET", "CHANGE-ME", NotifySettings),
        ("CLM_NOTIFY_SMTP_PASSWORD", "change-me", NotifySettings),
        ("CLM_NOTIFY_SMS_TOKEN", "CHANGE-ME", NotifySettings),
    ],
)
def test_production_refuses_a_placeholder_secret_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    placeholder: str,
    service: type[ServiceSettings],
) -> None:
    monkeypatch.setenv("CLM_ENVIRONMENT", "production")
    for name, value in REAL_SECRETS.items():
        monkeypatch.setenv(name, value)
    assert service().environment == "production"
    monkeypatch.setenv(variable, placeholder)
    with pytest.raises(ValidationError, match=variable):
        service()
    monkeypatch.setenv("CLM_ENVIRONMENT", "local")
    assert service().environment == "local"  # development keeps its defaults
