"""Audiences' own Prometheus metrics."""

from prometheus_client import Counter, Histogram

MEMBERSHIP_CHANGES = Counter(
    "clm_audiences_membership_changes_total",
    "Segment entries and exits published to clm.segment-memberships.v1",
    ["change", "reason"],
)
SWEEP_SECONDS = Histogram(
    "clm_audiences_sweep_seconds",
    "One re-evaluation of a segment over every candidate (time windows, percentiles, builds)",
    buckets=(0.05, 0.2, 1, 5, 20, 60, 300),
)
