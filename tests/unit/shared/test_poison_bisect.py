"""A failing batch: transient failures are retried and never dead-lettered; a deterministic
one is retried once, then bisected, and only the records that fail alone go to the DLQ while
the rest is processed in order."""

import asyncio
from collections.abc import Callable

import pytest
from aiokafka.structs import ConsumerRecord

from shared.cloudevents import KafkaRecord
from shared.kafka_consumer import BatchConsumer, Decoded, Poison, _Stopped
from shared.topics import REDRIVE_FOR_HEADER
from tests.support.polling import eventually

GROUP = "clm-test"


def record(
    offset: int, value: bytes, headers: tuple[tuple[str, bytes], ...] = ()
) -> ConsumerRecord:  # type: ignore[type-arg]
    return ConsumerRecord("clm.t", offset % 2, offset, 0, 0, b"k", value, None, 1, 1, headers)  # type: ignore[arg-type]


class Dlq:
    def __init__(self) -> None:
        self.published: list[KafkaRecord] = []

    async def publish(self, records: list[KafkaRecord]) -> None:
        self.published.extend(records)


class Handler:
    """Processes values in order; `fails(values)` says whether a call raises, and what."""

    def __init__(self, fails: Callable[[list[bytes]], Exception | None]) -> None:
        self.fails = fails
        self.processed: list[bytes] = []
        self.calls = 0

    async def __call__(self, batch: list[Decoded[bytes]]) -> list[Poison]:
        self.calls += 1
        values = [d.message for d in batch]
        error = self.fails(values)
        if error is not None:
            raise error
        self.processed += values
        return []


def consumer(handler: Handler, dlq: Dlq) -> BatchConsumer[bytes]:
    return BatchConsumer(
        bootstrap_servers="127.0.0.1:1", topic="clm.t", group_id=GROUP,
        decode=lambda r: r.value, handle=handler, dlq=dlq,  # type: ignore[arg-type]
    )  # fmt: skip


def values(n: int) -> list[bytes]:
    return [f"v{i}".encode() for i in range(n)]


async def test_only_the_poison_records_are_dead_lettered_and_the_rest_is_processed_in_order() -> (
    None
):
    poison = {b"v3", b"v11"}
    handler = Handler(
        lambda vs: OverflowError("date value out of range") if poison & set(vs) else None
    )
    dlq = Dlq()
    records = [record(i, v) for i, v in enumerate(values(16))]

    await consumer(handler, dlq)._process_until_done(records)

    assert handler.processed == [v for v in values(16) if v not in poison]  # in order, once
    assert [r.value for r in dlq.published] == [b"v3", b"v11"]
    for r in dlq.published:
        headers = dict(r.headers)
        assert r.topic == "clm.t.dlq"
        assert headers["dlq_error"] == b"OverflowError: date value out of range"
        assert headers["dlq_group"] == GROUP.encode()
    assert dict(dlq.published[0].headers)["dlq_origin"] == b"clm.t/1/3"


async def test_a_failure_that_passes_on_the_retry_dead_letters_nothing() -> None:
    flaky = iter([ValueError("once")])
    handler = Handler(lambda vs: next(flaky, None))
    dlq = Dlq()

    await consumer(handler, dlq)._process_until_done(
        [record(i, v) for i, v in enumerate(values(4))]
    )

    assert handler.processed == values(4) and handler.calls == 2
    assert dlq.published == []


async def test_transient_failures_are_retried_and_never_dead_lettered() -> None:
    outage = iter([ConnectionRefusedError("database down")] * 3)
    handler = Handler(lambda vs: next(outage, None))
    dlq = Dlq()
    member = consumer(handler, dlq)

    await member._process_until_done([record(0, b"v0")])

    assert handler.processed == [b"v0"] and handler.calls == 4
    assert dlq.published == []
    assert member.progress.attempts == 3
    assert member.progress.last_error == "ConnectionRefusedError: database down"


async def test_a_transient_failure_stays_stuck_and_is_reported_so() -> None:
    handler = Handler(lambda vs: TimeoutError("statement timeout"))
    dlq = Dlq()
    member = consumer(handler, dlq)
    member.progress.stuck_after = 0.0

    task = asyncio.create_task(member._process_until_done([record(0, b"v0")]))

    async def retried_twice() -> bool:
        return member.progress.attempts >= 2

    await eventually(retried_twice, timeout=10, interval=0.05, what="two transient failures")
    assert member.progress.is_stuck() and member.progress.offsets == "0:0-0"
    member.stop()
    with pytest.raises(_Stopped):  # its offsets stay uncommitted
        await task
    assert dlq.published == [] and handler.processed == []


async def test_undecodable_records_are_dead_lettered_without_being_handled() -> None:
    def decode(r: ConsumerRecord) -> bytes:  # type: ignore[type-arg]
        if r.value == b"bad":
            raise ValueError("not JSON")
        return bytes(r.value)

    handler = Handler(lambda vs: None)
    dlq = Dlq()
    member = BatchConsumer(
        bootstrap_servers="127.0.0.1:1", topic="clm.t", group_id=GROUP, decode=decode,
        handle=handler, dlq=dlq,  # type: ignore[arg-type]
    )  # fmt: skip

    await member._process_until_done([record(0, b"v0"), record(1, b"bad"), record(2, b"v2")])

    assert handler.processed == [b"v0", b"v2"]
    assert [dict(r.headers)["dlq_error"] for r in dlq.published] == [b"ValueError: not JSON"]


async def test_a_redriven_record_is_processed_only_by_the_groups_it_names() -> None:
    handler = Handler(lambda vs: None)
    records = [
        record(0, b"for-others", ((REDRIVE_FOR_HEADER, b"clm-a,clm-b"),)),
        record(1, b"for-us", ((REDRIVE_FOR_HEADER, f"clm-a,{GROUP}".encode()),)),
        record(2, b"plain"),
    ]

    await consumer(handler, Dlq())._process_until_done(records)

    assert handler.processed == [b"for-us", b"plain"]
