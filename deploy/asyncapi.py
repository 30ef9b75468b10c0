"""The AsyncAPI 3.0 description of every topic, generated from the code so it cannot drift.

Each payload's model is the topic's contract in shared/contracts/ (customer events: shared/events.py).

Regenerate: .venv/bin/python -m deploy.asyncapi > docs/asyncapi.yaml
A unit test fails when the committed file differs, or when a producer's payload gains a field
that the models below do not document; another runs the official AsyncAPI CLI on the file
(tests/unit/deploy/test_asyncapi_cli.py).
"""

import sys
from typing import Any

import yaml

from clm_cli.dlq import REDRIVE_GROUP
from services.audiences.settings import AudiencesSettings
from services.lifecycle.settings import LifecycleSettings
from services.notify.settings import NotifySettings
from services.scoring.settings import ScoringSettings
from shared.contracts.customer_scores import ScoreUpdateData
from shared.contracts.lifecycle_changes import LifecycleChangeData
from shared.contracts.notifications import NotificationData
from shared.contracts.segment_memberships import SegmentMembershipData
from shared.events import customer_event_adapter
from shared.topics import (
    CUSTOMER_EVENTS,
    CUSTOMER_SCORES,
    CUSTOMER_STATE,
    LIFECYCLE_CHANGES,
    NOTIFICATIONS,
    SEGMENT_MEMBERSHIPS,
    dlq_of,
    platform_topics,
)

CE_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0, Kafka binary content mode; the key is the customer id.",
    "properties": {
        name: {"type": "string"}
        for name in (
            "ce_specversion",
            "ce_id",
            "ce_source",
            "ce_type",
            "ce_subject",
            "ce_time",
            "ce_dataschema",
            "content-type",
        )
    }
    | {
        "ce_traceparent": {
            "type": "string",
            "description": "CloudEvents distributed-tracing extension: the W3C traceparent of "
            "the request that produced the event (ingest sets it; optional).",
        }
    },
    "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "content-type"],
}
DLQ_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "The original record's headers plus the reason it could not be processed.",
    "properties": {
        **CE_HEADERS["properties"],
        "dlq_error": {"type": "string"},
        "dlq_group": {"type": "string"},
        "dlq_origin": {"type": "string", "description": "topic/partition/offset"},
        "dlq_truncated": {
            "type": "string",
            "description": "Present when the value was cut to fit the broker's size limit: the "
            "original length in bytes (the origin holds it whole; `clm dlq redrive` reads it "
            "from there).",
        },
    },
    "required": ["dlq_error", "dlq_group", "dlq_origin"],
}

REF = "#/components/schemas/{model}"
_PAYLOADS: dict[str, tuple[str, dict[str, Any]]] = {
    CUSTOMER_EVENTS: (
        "Accepted customer events (clm.customer.<type>), all types in one topic.",
        customer_event_adapter.json_schema(ref_template=REF),
    ),
    LIFECYCLE_CHANGES: (
        "Stage, flag and tier changes.",
        LifecycleChangeData.model_json_schema(ref_template=REF),
    ),
    CUSTOMER_SCORES: ("Score updates.", ScoreUpdateData.model_json_schema(ref_template=REF)),
    NOTIFICATIONS: ("Message decisions.", NotificationData.model_json_schema(ref_template=REF)),
    CUSTOMER_STATE: (
        "Compacted per-customer state; a tombstone (null value) marks an erased customer. "
        "Lifecycle publishes it after its erasure commits; scoring, notify and audiences erase "
        "their own data when they read it. Tombstones stay readable for delete.retention.ms after "
        "compaction: a consumer down for less than that still erases when it comes back.",
        {"type": ["object", "null"]},
    ),
    SEGMENT_MEMBERSHIPS: (
        "Entries into and exits from audience segments (POST /v1/segments on audiences), "
        "so a marketing tool can sync an audience without polling.",
        SegmentMembershipData.model_json_schema(ref_template=REF),
    ),
}


BINDING_VERSION = "0.5.0"
SERVERS: dict[str, Any] = {
    "kafka": {
        "host": "{bootstrap}",
        "protocol": "kafka",
        "description": "The platform's Kafka cluster (KAFKA_BOOTSTRAP_SERVERS).",
        "variables": {
            "bootstrap": {
                "default": "127.0.0.1:9092",
                "description": "host:port of a broker; the local stack's default",
            }
        },
    }
}
# Who writes each topic; every consumer of a topic also writes its dead letters.
SENDERS = {
    CUSTOMER_EVENTS: ["ingest"],
    LIFECYCLE_CHANGES: ["lifecycle"],
    CUSTOMER_STATE: ["lifecycle"],
    CUSTOMER_SCORES: ["scoring"],
    NOTIFICATIONS: ["notify"],
    SEGMENT_MEMBERSHIPS: ["audiences"],
}


def _receivers() -> dict[str, list[tuple[str, str]]]:
    """(service, consumer group) per topic, from the services' settings and the CLI."""
    lifecycle_group = LifecycleSettings.model_fields["consumer_group"].default
    scoring_group = ScoringSettings.model_fields["consumer_group"].default
    notify_group = NotifySettings.model_fields["consumer_group"].default
    audiences_group = AudiencesSettings.model_fields["consumer_group"].default
    return {
        CUSTOMER_EVENTS: [
            ("lifecycle", lifecycle_group),
            ("scoring", scoring_group),
            ("notify", f"{notify_group}-events"),
            ("audiences", f"{audiences_group}-events"),
        ],
        LIFECYCLE_CHANGES: [
            ("notify", f"{notify_group}-lifecycle"),
            ("audiences", f"{audiences_group}-lifecycle"),
        ],
        CUSTOMER_SCORES: [
            ("notify", f"{notify_group}-scores"),
            ("audiences", f"{audiences_group}-scores"),
        ],
        CUSTOMER_STATE: [
            ("scoring", f"{scoring_group}-state"),
            ("notify", f"{notify_group}-state"),
            ("audiences", f"{audiences_group}-state"),
        ],
        SEGMENT_MEMBERSHIPS: [("notify", f"{notify_group}-segments")],
    }


def _name(topic: str) -> str:
    return topic.replace(".", "_").replace("-", "_")


def _topic_configuration(config: dict[str, str]) -> dict[str, Any]:
    """Kafka topic configs typed as the AsyncAPI Kafka binding wants them."""
    typed: dict[str, Any] = {}
    for key, value in config.items():
        if key == "cleanup.policy":
            typed[key] = value.split(",")
        elif key.endswith((".ms", ".bytes")):
            typed[key] = int(value)
        else:
            typed[key] = value
    return typed


def _asyncapi_schema(schema: Any) -> Any:
    """JSON Schema from pydantic, with OpenAPI's discriminator object turned into the AsyncAPI
    schema's discriminator (the name of the property that tells the variants apart)."""
    if isinstance(schema, dict):
        out = {k: _asyncapi_schema(v) for k, v in schema.items()}
        if isinstance(out.get("discriminator"), dict):
            out["discriminator"] = out["discriminator"]["propertyName"]
        return out
    if isinstance(schema, list):
        return [_asyncapi_schema(v) for v in schema]
    return schema


def _operation(action: str, channel: str, summary: str, group: str | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "summary": summary,
        "messages": [{"$ref": f"#/channels/{channel}/messages/{channel}"}],
    }
    if group is not None:
        operation["bindings"] = {
            "kafka": {
                "groupId": {"type": "string", "enum": [group]},
                "bindingVersion": BINDING_VERSION,
            }
        }
    return operation


def build() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    receivers = _receivers()
    for spec in platform_topics():
        base = spec.name.removesuffix(".dlq")
        description, payload = _PAYLOADS[base]
        payload = _asyncapi_schema(payload)
        schemas.update(payload.pop("$defs", {}))
        is_dlq = spec.name == dlq_of(base)
        name = _name(spec.name)
        messages[name] = {
            "name": name,
            "contentType": "application/json",
            "headers": DLQ_HEADERS if is_dlq else CE_HEADERS,
            "payload": payload,
            "bindings": {
                "kafka": {
                    "key": {"type": "string", "description": "customer_id"},
                    "bindingVersion": BINDING_VERSION,
                }
            },
        }
        binding: dict[str, Any] = {"topic": spec.name, "bindingVersion": BINDING_VERSION}
        if spec.config:
            binding["topicConfiguration"] = _topic_configuration(spec.config)
        channels[name] = {
            "address": spec.name,
            "description": f"Dead letters of {base}." if is_dlq else description,
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "servers": [{"$ref": "#/servers/kafka"}],
            "bindings": {"kafka": binding},
        }
        if is_dlq:
            for service, group in receivers.get(base, []):
                operations[f"{service}_dead_letters_{_name(base)}"] = _operation(
                    "send", name, f"{service} ({group}) parks a record it cannot process"
                )
            operations[f"redrive_receives_{name}"] = _operation(
                "receive", name, "`clm dlq redrive` re-publishes dead letters", REDRIVE_GROUP
            )
            continue
        for service in SENDERS[base]:
            operations[f"{service}_sends_{name}"] = _operation(
                "send", name, f"{service} publishes to {spec.name}"
            )
        for service, group in receivers.get(base, []):
            operations[f"{service}_receives_{name}"] = _operation(
                "receive", name, f"{service} consumes {spec.name} in group {group}", group
            )
    return {
        "asyncapi": "3.1.0",
        "info": {
            "title": "CLM platform topics",
            "version": "1.0.0",
            "description": "Every Kafka topic of the customer lifecycle platform (CONTRACT.md).",
        },
        "defaultContentType": "application/json",
        "servers": SERVERS,
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def render() -> str:
    return yaml.safe_dump(build(), sort_keys=True, allow_unicode=True, width=100)


if __name__ == "__main__":
    sys.stdout.write(render())
