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
