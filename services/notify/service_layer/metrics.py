"""Notify's counters: each decision is counted here; its log line is at debug level."""

from prometheus_client import Counter

# status: scheduled, sent, retrying, deferred, suppressed, cancelled, failed.
DECISIONS = Counter("clm_notify_decisions_total", "Message decisions", ["channel", "status"])
