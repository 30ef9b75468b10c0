"""Prometheus metrics shared by every service."""

from prometheus_client import Counter, Gauge, Histogram

HTTP_LATENCY = Histogram(
    "clm_http_request_duration_seconds",
    "HTTP request latency by route",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
EVENTS_PRODUCED = Counter("clm_events_produced_total", "Records produced", ["topic", "type"])
EVENTS_CONSUMED = Counter(
    "clm_events_consumed_total", "Records consumed", ["topic", "group", "type"]
)
DLQ_RECORDS = Counter("clm_dlq_records_total", "Records sent to a dead-letter topic", ["topic"])
BATCH_LATENCY = Histogram(
    "clm_consumer_batch_duration_seconds",
    "Time to process one consumed batch",
    ["group"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CONSUMER_LAG = Gauge(
    "clm_consumer_lag", "Records behind the log end", ["group", "topic", "partition"]
)
OUTBOX_BACKLOG = Gauge("clm_outbox_backlog", "Outbox rows not yet published", ["service"])
ERASED_EVENTS_SKIPPED = Counter(
    "clm_erased_events_skipped_total",
    "Consumed records dropped because their customer was erased (GDPR)",
    ["service"],
)
# Consumer progress (shared/consumer_progress.py): alert rules in deploy/ match these names.
CONSUMER_STUCK = Gauge(
    "clm_consumer_stuck",
    "1 while the group has retried one batch (same offsets) longer than "
    "CLM_CONSUMER_STUCK_AFTER_SECONDS, else 0",
    ["group"],
)
CONSUMER_LAST_PROGRESS = Gauge(
    "clm_consumer_last_progress_timestamp_seconds",
    "Unix time the group last committed a batch or found nothing to consume (oldest member)",
    ["group"],
)
CONSUMER_DEAD_LETTERED = Counter(
    "clm_consumer_dead_lettered_total",
    "Records the group could not process and sent to <topic>.dlq, by original topic",
    ["group", "topic"],
)
