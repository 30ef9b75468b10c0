"""Logs are JSON lines naming the customer, the event and the trace; the trace crosses ingest
into the CloudEvents it publishes (the `traceparent` extension)."""

import io
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
import structlog
from aiokafka import ConsumerRecord, TopicPartition
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event
from fastapi import FastAPI

from services.ingest.publishing import EventPublishing
from services.ingest.settings import IngestSettings
from services.notify.service_layer.intake import _log_decisions
from services.notify.service_layer.observations import Observation
from shared.cloudevents import KafkaRecord, from_kafka, to_kafka
from shared.customer_event_codec import to_cloudevent, to_kafka_record
from shared.events import customer_event_adapter
from shared.kafka_consumer import BatchConsumer, Decoded, Poison
from shared.logging import (
    TraceContext,
    get_logger,
    parse_traceparent,
    processors,
    record_fields,
    trace_context,
)
from shared.service_app import create_service_app
from shared.topics import CUSTOMER_EVENTS
from tests.support.factories import purchase

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE}-{PARENT}-01"


Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def logged() -> Iterator[Lines]:
    """What the services' processor chain rendered so far, as parsed JSON lines."""
    out = io.StringIO()
    structlog.configure(
        processors=[*processors(), structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    try:
        yield lambda: [orjson.loads(x) for x in out.getvalue().splitlines()]
    finally:
        structlog.reset_defaults()


def test_traceparent_is_parsed_per_w3c_and_malformed_values_are_ignored() -> None:
    assert parse_traceparent(TRACEPARENT) == TraceContext(TRACE, PARENT, True)
    assert parse_traceparent(f"00-{TRACE}-{PARENT}-00".encode()) == TraceContext(
        TRACE, PARENT, False
    )
    for bad in (
        None,
        "",
        "garbage",
        f"00-{'0' * 32}-{PARENT}-01",  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent id
        f"ff-{TRACE}-{PARENT}-01",  # forbidden version
        f"00-{TRACE.upper()}-{PARENT}-01",  # upper case
        f"00-{TRACE}-{PARENT}-01-extra",  # version 00 has exactly four parts
    ):
        assert parse_traceparent(bad) is None, bad


def _app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield

    app = create_service_app(title="t", description="t", lifespan=lifespan)

    @app.get("/work")
    async def work() -> dict[str, str]:
        get_logger("test").info("working", customer_id="c-1")
        return {"ok": "yes"}

    return app


async def _get(headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get("/work", headers=headers)


async def test_a_request_continues_the_callers_trace_in_its_logs(
    logged: Lines,
) -> None:
    response = await _get({"traceparent": TRACEPARENT})
    [line] = [x for x in logged() if x["event"] == "working"]
    assert line["trace_id"] == TRACE
    assert len(line["span_id"]) == 16 and line["span_id"] != PARENT  # our own span
    assert line["customer_id"] == "c-1"
    assert line["correlation_id"] == TRACE  # no x-correlation-id: the trace id serves
    assert response.headers["traceresponse"] == f"00-{TRACE}-{line['span_id']}-01"


async def test_a_request_without_a_valid_traceparent_starts_a_trace(
    logged: Lines,
) -> None:
    response = await _get({"traceparent": "nonsense", "x-correlation-id": "cid-7"})
    [line] = [x for x in logged() if x["event"] == "working"]
    assert len(line["trace_id"]) == 32 and line["trace_id"] != TRACE
    assert line["correlation_id"] == "cid-7"
    assert response.headers["x-correlation-id"] == "cid-7"
    assert parse_traceparent(response.headers["traceresponse"]) == TraceContext(
        line["trace_id"], line["span_id"]
    )


def _event() -> Any:
    return customer_event_adapter.validate_python(
        purchase("cust-42", "2024-03-01T10:15:00+08:00", amount="12.50")
    )


def test_the_fast_codec_adds_the_traceparent_extension_like_the_reference_path() -> None:
    event = _event()
    fast = to_kafka_record(CUSTOMER_EVENTS, event, TRACEPARENT.encode())
    assert fast == to_kafka(CUSTOMER_EVENTS, to_cloudevent(event, TRACEPARENT))
    assert dict(fast.headers)["ce_traceparent"] == TRACEPARENT.encode()
    assert from_kafka(fast.value, fast.headers).extensions == {"traceparent": TRACEPARENT}
    parsed = from_binary_event(KafkaMessage(dict(fast.headers), fast.key, fast.value))
    assert parsed.get_extension("traceparent") == TRACEPARENT
    plain = to_kafka_record(CUSTOMER_EVENTS, event)
    assert "ce_traceparent" not in dict(plain.headers)


async def test_ingest_publishes_the_requests_trace_on_every_event() -> None:
    publishing = EventPublishing(IngestSettings())
    sent: list[KafkaRecord] = []

    async def capture(records: Sequence[KafkaRecord]) -> None:
        sent.extend(records)

    for publisher in [publishing.single, *publishing._transactional]:
        publisher.publish = capture  # type: ignore[method-assign]
    token = trace_context.set(TraceContext(TRACE, PARENT))
    try:
        await publishing.publish_one(_event())
        await publishing.publish_batch([_event(), _event()])
    finally:
        trace_context.reset(token)
    assert [dict(r.headers)["ce_traceparent"] for r in sent] == [TRACEPARENT.encode()] * 3


def _record(headers: list[tuple[str, bytes]]) -> ConsumerRecord:  # type: ignore[type-arg]
    return ConsumerRecord(
        CUSTOMER_EVENTS, 3, 17, 0, 0, b"cust-42", b"{}", None, 7, 2, tuple(headers)
    )  # fmt: skip


class _Dlq:
    def __init__(self) -> None:
        self.records: list[KafkaRecord] = []

    async def publish(self, records: list[KafkaRecord]) -> None:
        self.records += records


async def test_a_dead_lettered_event_is_logged_with_its_customer_event_and_trace(
    logged: Lines,
) -> None:
    dlq = _Dlq()

    def decode(record: Any) -> Any:
        raise ValueError("bad amount")

    async def handle(batch: list[Decoded[Any]]) -> list[Poison]:
        return []

    consumer: BatchConsumer[Any] = BatchConsumer(
        bootstrap_servers="127.0.0.1:1", topic=CUSTOMER_EVENTS, group_id="g", decode=decode,
        handle=handle, dlq=dlq,  # type: ignore[arg-type]
    )  # fmt: skip
    headers = [("ce_id", b"evt-9"), ("ce_traceparent", TRACEPARENT.encode())]
    await consumer._process_until_done([_record(headers)])
    [line] = [x for x in logged() if x["event"] == "dead_lettered"]
    assert (line["customer_id"], line["event_id"], line["trace_id"]) == ("cust-42", "evt-9", TRACE)
    assert (line["partition"], line["offset"], line["level"]) == (3, 17, "warning")
    assert "bad amount" in line["error"]
    assert len(dlq.records) == 1


def test_record_fields_tolerate_records_without_trace_or_id() -> None:
    assert record_fields(None, None) == {"customer_id": None, "event_id": None, "trace_id": None}
    assert record_fields(b"c", [("ce_traceparent", b"junk")])["trace_id"] is None


def test_notify_logs_each_decision_with_its_customer_event_and_trace(
    logged: Lines,
) -> None:
    message = {
        "id": "m-1", "customer_id": "cust-42", "playbook": "complaint_opened",
        "step": "acknowledge", "channel": "email",
    }  # fmt: skip
    cause = Observation("evt-9", "cust-42", datetime.now(UTC))
    _log_decisions([(message, "suppressed", "opted_out:email")], {"m-1": cause}, {"evt-9": TRACE})
    [line] = [x for x in logged() if x["event"] == "message_suppressed"]
    assert (line["customer_id"], line["event_id"], line["trace_id"]) == ("cust-42", "evt-9", TRACE)
    # At debug since issue 18 (one line per decision flooded the logs); counted as a metric.
    assert (line["message_id"], line["reason"], line["level"]) == (
        "m-1",
        "opted_out:email",
        "debug",
    )


async def test_a_batch_whose_partitions_moved_away_neither_commits_nor_stops_the_loop() -> None:
    """Found by the scale-out test: after a rebalance during a batch, reading the highwater of
    a partition no longer assigned raised out of the loop and the consumer stopped for good."""

    async def handle(batch: list[Decoded[Any]]) -> list[Poison]:
        return []

    consumer: BatchConsumer[Any] = BatchConsumer(
        bootstrap_servers="127.0.0.1:1", topic=CUSTOMER_EVENTS, group_id="g",
        decode=lambda r: r, handle=handle, dlq=_Dlq(),  # type: ignore[arg-type]
    )  # fmt: skip
    moved: dict[TopicPartition, Sequence[Any]] = {TopicPartition(CUSTOMER_EVENTS, 3): [_record([])]}
    assert not consumer._consumer.assignment()
    await consumer._commit(moved)  # nothing of ours to commit: no call, no error
    consumer._record_lag(moved)
