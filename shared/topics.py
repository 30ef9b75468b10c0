"""Kafka topic names from CONTRACT.md and the topic set the platform creates."""

from dataclasses import dataclass

CUSTOMER_EVENTS = "clm.customer-events.v1"
LIFECYCLE_CHANGES = "clm.lifecycle-changes.v1"
CUSTOMER_SCORES = "clm.customer-scores.v1"
NOTIFICATIONS = "clm.notifications.v1"
CUSTOMER_STATE = "clm.customer-state.v1"

DLQ_SUFFIX = ".dlq"


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
        TopicSpec(CUSTOMER_STATE, {"cleanup.policy": "compact"}),
    ]
    return main + [TopicSpec(dlq_of(t.name), {}) for t in main]
