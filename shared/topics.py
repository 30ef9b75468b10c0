"""Kafka topic names from CONTRACT.md and the topic set the platform creates."""

from dataclasses import dataclass

CUSTOMER_EVENTS = "clm.customer-events.v1"
LIFECYCLE_CHANGES = "clm.lifecycle-changes.v1"
CUSTOMER_SCORES = "clm.customer-scores.v1"
NOTIFICATIONS = "clm.notifications.v1"
CUSTOMER_STATE = "clm.customer-state.v1"
# Entries into and exits from audience segments (services/audiences), for marketing tools.
SEGMENT_MEMBERSHIPS = "clm.segment-memberships.v1"

# How long an erasure tombstone on CUSTOMER_STATE stays readable after compaction: the longest
# a consumer may be down and still erase when it comes back (7 days, in milliseconds).
ERASURE_VISIBLE_MS = 7 * 24 * 3600 * 1000

DLQ_SUFFIX = ".dlq"
# Headers a consumer adds to the record it dead-letters (the record's own headers are kept).
DLQ_ERROR_HEADER = "dlq_error"  # why: exception type, message, SQLSTATE
DLQ_GROUP_HEADER = "dlq_group"  # which consumer group failed it
DLQ_ORIGIN_HEADER = "dlq_origin"  # where it was: topic/partition/offset
# The value was cut to fit the broker's size limit: its original length (the origin keeps it whole).
DLQ_TRUNCATED_HEADER = "dlq_truncated"
DLQ_HEADERS = (DLQ_ERROR_HEADER, DLQ_GROUP_HEADER, DLQ_ORIGIN_HEADER, DLQ_TRUNCATED_HEADER)
# A redriven record names the groups that dead-lettered it (comma-separated): every other
# group consuming the topic skips it, having processed the original already.
REDRIVE_FOR_HEADER = "clm_redrive_for"


def dlq_of(topic: str) -> str:
    return f"{topic}{DLQ_SUFFIX}"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    config: dict[str, str]


def platform_topics() -> list[TopicSpec]:
    """Every topic the platform owns, with its dead-letter twin."""
    # The event log is the source of truth for replays, so it is kept forever.
    keep_forever = {"retention.ms": "-1"}
    main = [
        TopicSpec(CUSTOMER_EVENTS, keep_forever),
        TopicSpec(LIFECYCLE_CHANGES, {}),
        TopicSpec(CUSTOMER_SCORES, {}),
        TopicSpec(NOTIFICATIONS, {}),
        TopicSpec(
            CUSTOMER_STATE,
            {"cleanup.policy": "compact", "delete.retention.ms": str(ERASURE_VISIBLE_MS)},
        ),
        TopicSpec(SEGMENT_MEMBERSHIPS, {}),
    ]
    return main + [TopicSpec(dlq_of(t.name), {}) for t in main]
