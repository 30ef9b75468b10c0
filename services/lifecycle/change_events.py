"""Lifecycle changes as CloudEvents on clm.lifecycle-changes.v1 (ids are the stable change ids)."""

from collections.abc import Sequence

import orjson

from services.lifecycle.domain import Change
from services.lifecycle.domain.moments import iso
from shared.cloudevents import JSON, SPEC_VERSION, CloudEvent, KafkaRecord, to_kafka
from shared.topics import LIFECYCLE_CHANGES

SOURCE = "/clm/lifecycle"
SCHEMA = "urn:clm:schema:lifecycle-change:v1"


def to_records(changes: Sequence[Change]) -> list[KafkaRecord]:
    return [
        to_kafka(
            LIFECYCLE_CHANGES,
            CloudEvent(
                id=c.id,
                source=SOURCE,
                type=c.event_type,
                subject=c.customer_id,
                time=c.occurred_at,
                data=c.data(),
                dataschema=SCHEMA,
            ),
        )
        for c in changes
    ]


def to_outbox_rows(changes: Sequence[Change]) -> list[tuple[bytes, bytes, str]]:
    """(key, value, headers as JSON) per change: what `shared.outbox` stores for `to_records`.

    Built directly, without a CloudEvent and a header list per change; a unit test holds
    it equal to `to_records` as `shared.outbox.outbox_rows` would store it.
    """
    return [
        (
            c.customer_id.encode(),
            orjson.dumps(c.data(), option=orjson.OPT_NON_STR_KEYS),
            _headers_json(c),
        )
        for c in changes
    ]


def _headers_json(c: Change) -> str:
    # A template: only the ids need JSON escaping; type, time and the constants never do.
    return (
        f'[["ce_specversion","{SPEC_VERSION}"],["ce_id",{_quoted(c.id)}],'
        f'["ce_source","{SOURCE}"],["ce_type","{c.event_type}"],'
        f'["ce_subject",{_quoted(c.customer_id)}],["ce_time","{iso(c.occurred_at)}"],'
        f'["content-type","{JSON}"],["ce_dataschema","{SCHEMA}"]]'
    )


def _quoted(text: str) -> str:
    return orjson.dumps(text).decode()
