"""No record stops the consumers: poison written straight to clm.customer-events.v1 (as if it
slipped past ingest) is dead-lettered by each group that cannot process it, and a normal
purchase sent after it still reaches lifecycle, scoring and notify within seconds.

The three services run with consumer groups of their own (started at the topic's end), so
the DLQ records of this module are told apart by `dlq_group` from those of other modules'
services, which may read the same topic.
"""

import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from shared.customer_event_codec import SCHEMA_V1
from shared.topics import CUSTOMER_EVENTS, dlq_of
from tests.support.factories import new_customer, profile, purchase
from tests.support.infra import Infrastructure
from tests.support.polling import eventually
from tests.support.services import ServiceProcess
from tests.support.topics import TopicTail

GROUP = f"clm-poison-{uuid.uuid4().hex[:8]}"
LIFECYCLE, SCORING, NOTIFY = f"{GROUP}-lifecycle", f"{GROUP}-scoring", f"{GROUP}-notify-events"
EVERY_GROUP = frozenset({LIFECYCLE, SCORING, NOTIFY})
CANARY_SECONDS = 30.0
STARTUP_SECONDS = 180.0  # three services start one after another on a shared 2-core machine


def _headers(event: dict[str, Any]) -> list[tuple[str, bytes]]:
    """The CloudEvents binary-mode headers ingest would write for this event."""
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(event.get("event_id", "")).encode()),
        ("ce_source", b"/clm/ingest/tests"),
        ("ce_type", f"clm.customer.{event.get('type')}".encode()),
        ("ce_subject", str(event.get("customer_id", "")).encode()),
        ("ce_time", str(event.get("occurred_at", "")).encode()),
        ("content-type", b"application/json"),
        ("ce_dataschema", SCHEMA_V1.encode()),
    ]


@dataclass(frozen=True)
class Raw:
    """A record as it lands on the topic: key, value and headers, nothing validated."""

    key: bytes
    value: bytes | None
    headers: list[tuple[str, bytes]]

    @classmethod
    def of(cls, event: dict[str, Any]) -> "Raw":
        key = str(event.get("customer_id", "")).encode()
        # The standard library's encoder: orjson refuses nesting deeper than 254 levels.
        return cls(key, json.dumps(event, ensure_ascii=False).encode(), _headers(event))


@dataclass(frozen=True)
class Case:
    name: str
    records: list[Raw]
    # Which records (by index) each group cannot process: one DLQ record per pair.
    failing: dict[int, frozenset[str]] = field(default_factory=dict)


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


def _with(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**event, **changes}


def _corpus() -> list[Case]:
    c = new_customer
    out = [
        Case("nul-in-customer-id", [Raw.of(purchase(c("nul") + "\x00x"))], {0: EVERY_GROUP}),
        Case(
            "nul-in-event-id",
            [Raw.of(purchase(c("nulid"), event_id=f"evt-{uuid.uuid4().hex}\x00"))],
            {0: EVERY_GROUP},
        ),
        Case(
            "nul-in-profile-name",
            [Raw.of(profile(c("nulname"), name="Ann\x00e", locale="en"))],
            {0: EVERY_GROUP},  # the event model refuses control characters when decoding
        ),
        Case(
            "nul-in-profile-email",
            [Raw.of(profile(c("nulmail"), email="a\x00b@example.com", locale="en"))],
            {0: EVERY_GROUP},
        ),
        Case("year-0001", [Raw.of(purchase(c("y1"), "0001-01-01T00:00:00+00:00"))], {0: EVERY_GROUP}),
        Case("year-9999", [Raw.of(purchase(c("y9999"), "9999-12-31T23:59:59+00:00"))], {0: EVERY_GROUP}),
        Case(
            "attributes-nested-253-deep",
            [Raw.of(profile(c("deep"), name="Deep", attributes=_nested(253)))],
            {0: EVERY_GROUP},  # deeper than the event model's nesting limit
        ),
        # Beyond the event model's size of an attribute's text: refused when decoded.
        Case("huge-attribute", [Raw.of(profile(c("huge"), name="H", attributes={"notes": "x" * 500_000}))], {0: EVERY_GROUP}),
        Case("invalid-json", [Raw(b"badjson", b'{"event_id": "x", "type":', _headers(purchase("badjson")))], {0: EVERY_GROUP}),
        Case("wrong-type", [Raw.of(_with(purchase(c("wrongtype")), data=["not", "an", "object"]))], {0: EVERY_GROUP}),
        Case("unknown-event-type", [Raw.of(_with(purchase(c("unknown")), type="teleport"))], {0: EVERY_GROUP}),
        Case("invalid-currency", [Raw.of(purchase(c("cur"), data={"currency": "XYZ"}))], {0: EVERY_GROUP}),
        Case("no-value", [Raw(b"tombstone", None, _headers(purchase("tombstone")))], {0: EVERY_GROUP}),
        Case("huge-customer-id", [Raw.of(purchase(uuid.uuid4().hex * 2000))], {0: EVERY_GROUP}),
    ]  # fmt: skip
    return out


CORPUS = _corpus()


async def _start_group_at_end(bootstrap: str, group: str, topic: str) -> None:
    """A new group would read the topic's whole history; only what comes next matters here."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        tps = [TopicPartition(topic, p) for p in cluster.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        await consumer.commit(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


@dataclass
class Platform:
    lifecycle: httpx.AsyncClient
    scoring: httpx.AsyncClient
    notify: httpx.AsyncClient
    producer: AIOKafkaProducer
    dlq: TopicTail


@pytest.fixture(scope="module")
async def platform(
    infra: Infrastructure, start_service: Callable[..., ServiceProcess], admin_key: str
) -> AsyncIterator[Platform]:
    for group in EVERY_GROUP:
        await _start_group_at_end(infra.kafka_bootstrap, group, CUSTOMER_EVENTS)
    lifecycle = start_service(
        "lifecycle", ready_within=STARTUP_SECONDS, CLM_LIFECYCLE_CONSUMER_GROUP=LIFECYCLE
    )
    scoring = start_service(
        "scoring", ready_within=STARTUP_SECONDS, CLM_SCORING_CONSUMER_GROUP=SCORING,
        CLM_SCORING_REFIT_INTERVAL_HOURS="0",
    )  # fmt: skip
    notify = start_service(
        "notify", ready_within=STARTUP_SECONDS, CLM_NOTIFY_CONSUMER_GROUP=f"{GROUP}-notify",
        CLM_NOTIFY_RUN_SENDER="false",
        CLM_NOTIFY_RUN_CALENDAR="false", CLM_NOTIFY_RUN_SCORES_CONSUMER="false",
    )  # fmt: skip
    auth = {"Authorization": f"Bearer {admin_key}"}
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap, acks="all", max_request_size=8 * 1024 * 1024
    )
    await producer.start()
    try:
        async with (
            httpx.AsyncClient(base_url=lifecycle.url, headers=auth, timeout=60) as lc,
            httpx.AsyncClient(base_url=scoring.url, headers=auth, timeout=60) as sc,
            httpx.AsyncClient(base_url=notify.url, headers=auth, timeout=60) as nt,
            TopicTail(infra.kafka_bootstrap, dlq_of(CUSTOMER_EVENTS)) as dlq,
        ):
            yield Platform(lc, sc, nt, producer, dlq)
    finally:
        await producer.stop()


async def _send(producer: AIOKafkaProducer, records: list[Raw]) -> list[str]:
    """Publishes the records in order; returns each one's origin (topic/partition/offset)."""
    futures = [
        await producer.send(CUSTOMER_EVENTS, value=r.value, key=r.key, headers=r.headers)
        for r in records
    ]
    origins = []
    for fut in futures:
        meta = await fut
        origins.append(f"{meta.topic}/{meta.partition}/{meta.offset}")
    return origins


async def _reaches_every_service(platform: Platform, customer: str) -> None:
    async def probe() -> bool:
        urls = (
            (platform.lifecycle, f"/v1/customers/{customer}"),
            (platform.scoring, f"/v1/customers/{customer}/scores"),
            (platform.notify, f"/v1/customers/{customer}/preferences"),
        )
        return all([(await client.get(url)).status_code == 200 for client, url in urls])

    await eventually(
        probe, timeout=CANARY_SECONDS, interval=0.2, what=f"purchase of {customer} everywhere"
    )


def _dlq_fields(record: ConsumerRecord) -> tuple[str, str, str]:  # type: ignore[type-arg]
    headers = dict(record.headers)
    return (
        headers.get("dlq_group", b"").decode(),
        headers.get("dlq_origin", b"").decode(),
        headers.get("dlq_error", b"").decode(),
    )


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
async def test_a_poison_record_is_dead_lettered_and_the_next_purchase_still_arrives(
    platform: Platform, case: Case
) -> None:
    origins = await _send(platform.producer, case.records)
    canary = new_customer("canary")
    await _send(platform.producer, [Raw.of(purchase(canary))])

    await _reaches_every_service(platform, canary)

    expected = {(g, origins[i]) for i, groups in case.failing.items() for g in groups}
    ours = set(origins)
    found = await platform.dlq.collect(
        lambda r: _dlq_fields(r)[0] in EVERY_GROUP and _dlq_fields(r)[1] in ours,
        until=lambda kept: len(kept) >= len(expected),
        timeout=CANARY_SECONDS,
    )
    got = [(_dlq_fields(r)[0], _dlq_fields(r)[1]) for r in found]
    assert sorted(got) == sorted(expected)  # exactly the poison, once per failing group
    assert all(_dlq_fields(r)[2] for r in found)  # each says why
    for r in found:
        index = origins.index(_dlq_fields(r)[1])
        assert r.key == case.records[index].key
        assert r.value == (case.records[index].value or b"")  # a missing value stays empty


async def test_no_group_is_stuck_and_each_counts_what_it_dead_lettered(
    platform: Platform,
) -> None:
    for client, group in (
        (platform.lifecycle, LIFECYCLE), (platform.scoring, SCORING), (platform.notify, NOTIFY)
    ):  # fmt: skip
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["consumers"][group]["stuck"] is False
        assert body["consumers_stuck"] == []
        metrics = (await client.get("/metrics")).text
        assert f'clm_consumer_stuck{{group="{group}"}} 0.0' in metrics
        assert f'clm_consumer_last_progress_timestamp_seconds{{group="{group}"}}' in metrics
        counted = f'clm_consumer_dead_lettered_total{{group="{group}",topic="{CUSTOMER_EVENTS}"}}'
        assert counted in metrics
