"""Batch consumer loop: getmany, process, commit after processing, poison records to the DLQ.

Three failures are told apart (shared/failures.py): a failure of our own dependencies
(database or broker down, deadlock, timeout: back off and retry the same records, never skip
them), a record that cannot be decoded or processed (poison: found by retrying the batch once
and then bisecting it, sent to `<topic>.dlq` with the error, the group and its origin, and the
rest of the batch processed in order), and stop (return, offsets uncommitted).
"""

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from shared.cloudevents import KafkaRecord, ce_type_of
from shared.consumer_progress import DEFAULT_STUCK_AFTER_SECONDS, MemberProgress
from shared.consumer_progress import register as register_progress
from shared.consumer_progress import unregister as unregister_progress
from shared.failures import describe, is_transient
from shared.gc_tuning import return_freed_memory
from shared.kafka_producer import KafkaPublisher
from shared.logging import get_logger, record_fields
from shared.metrics import (
    BATCH_LATENCY,
    CONSUMER_DEAD_LETTERED,
    CONSUMER_LAG,
    DLQ_RECORDS,
    EVENTS_CONSUMED,
)
from shared.partition_progress import PartitionProgress, handling_batch
from shared.topics import (
    DLQ_ERROR_HEADER,
    DLQ_GROUP_HEADER,
    DLQ_ORIGIN_HEADER,
    DLQ_TRUNCATED_HEADER,
    REDRIVE_FOR_HEADER,
    dlq_of,
)

log = get_logger(__name__)
T = TypeVar("T")
SLOW_BATCH_SECONDS = 5.0  # a batch slower than this gets a summary line
POSITION_WAIT = 0.05  # seconds a partition's progress may wait for its position


class _Stopped(Exception):
    """Stop was asked while a batch was still being retried; its offsets stay uncommitted."""


class _RecordFailure(Exception):
    """Handling these records failed in a way that retrying will not change (their data)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(frozen=True)
class Poison:
    record: ConsumerRecord  # type: ignore[type-arg]
    error: str


@dataclass(frozen=True)
class Decoded(Generic[T]):
    record: ConsumerRecord  # type: ignore[type-arg]
    message: T


Decoder = Callable[[ConsumerRecord], T]  # type: ignore[type-arg]
# Processes decoded messages; returns those it found poison (they go to the DLQ).
BatchHandler = Callable[[list[Decoded[T]]], Awaitable[list[Poison]]]


def _summary(records: Sequence[ConsumerRecord]) -> dict[str, object]:  # type: ignore[type-arg]
    """A batch in a log line: its size, offsets per partition, and its first event."""
    spans: dict[int, tuple[int, int]] = {}
    for r in records:
        low, high = spans.get(r.partition, (r.offset, r.offset))
        spans[r.partition] = (min(low, r.offset), max(high, r.offset))
    first = record_fields(records[0].key, records[0].headers) if records else {}
    return {
        "topic": records[0].topic if records else None,
        "records": len(records),
        "offsets": ",".join(f"{p}:{lo}-{hi}" for p, (lo, hi) in sorted(spans.items())),
        **{f"first_{k}": v for k, v in first.items()},
    }


def share_repeated_headers(records: Sequence[ConsumerRecord]) -> set[str]:  # type: ignore[type-arg]
    """Makes a batch's records share equal header pairs, and header names; returns the names.

    A batch is held until it commits, and its headers were most of each record's memory
    (CloudEvents: nine name/value pairs, ~1.5 of ~2 KB, a new object per name per record);
    spec version, source, type and content type repeat in nearly every record.
    """
    pairs: dict[tuple[str, bytes], tuple[str, bytes]] = {}
    names: dict[str, str] = {}
    for rec in records:
        shared = []
        for pair in rec.headers or ():
            found = pairs.get(pair)
            if found is None:
                name = names.setdefault(pair[0], pair[0])
                found = pairs[pair] = pair if name is pair[0] else (name, pair[1])
            shared.append(found)
        rec.headers = tuple(shared)
    return set(names)


# aiokafka refuses a record whose serialized size exceeds max_request_size (1 MiB, kept by every
# producer here); 512 bytes cover the batch's and the record's own overheads.
DLQ_RECORD_LIMIT = 1024 * 1024 - 512
ERROR_HEADER_MAX = 4000
ERROR_HEADER_MIN = 200  # what of the error a copy always keeps, cutting its value if need be


def dead_letter(poison: Poison, group_id: str, limit: int = DLQ_RECORD_LIMIT) -> KafkaRecord:
    """The record's DLQ copy: its key, value and headers with the error, the group and the
    origin. A copy that would exceed the limit (the original fitted without our headers)
    shortens its error, then cuts its value and says so; the origin still holds it whole."""
    rec = poison.record
    key, value, own = rec.key or b"", rec.value or b"", list(rec.headers or ())
    group = (DLQ_GROUP_HEADER, group_id.encode())
    origin = (DLQ_ORIGIN_HEADER, f"{rec.topic}/{rec.partition}/{rec.offset}".encode())
    error = _utf8_prefix(poison.error, ERROR_HEADER_MAX)
    used = len(key) + len(value) + len(DLQ_ERROR_HEADER)
    used += sum(len(name) + len(v) for name, v in (*own, group, origin))
    truncated: list[tuple[str, bytes]] = []
    if used + len(error) > limit:
        error = _utf8_prefix(poison.error, max(limit - used, ERROR_HEADER_MIN))
        over = used + len(error) - limit
        if over > 0:
            truncated = [(DLQ_TRUNCATED_HEADER, str(len(value)).encode())]
            over += len(DLQ_TRUNCATED_HEADER) + len(truncated[0][1])
            value = value[: max(len(value) - over, 0)]
    headers = [*own, (DLQ_ERROR_HEADER, error), group, origin, *truncated]
    return KafkaRecord(dlq_of(rec.topic), key, value, headers)


def _utf8_prefix(text: str, max_bytes: int) -> bytes:
    """At most `max_bytes` of the text's UTF-8, never ending inside a character."""
    return text.encode()[:max_bytes].decode("utf-8", "ignore").encode()


def meant_for(record: ConsumerRecord, group_id: str) -> bool:  # type: ignore[type-arg]
    """False for a redriven record that names other groups (`clm dlq redrive`): this group
    processed the original, only the groups that dead-lettered it process it again."""
    for name, value in record.headers or ():
        if name == REDRIVE_FOR_HEADER:
            return group_id in (value or b"").decode(errors="replace").split(",")
    return True


FETCH_MAX_BYTES = 32 * 1024 * 1024  # fetched record batches held in memory, at the most


class BatchConsumer(Generic[T]):
    def __init__(
        self,
        *,
        bootstrap_servers: str,
        topic: str,
        group_id: str,
        decode: Decoder[T],
        handle: BatchHandler[T],
        dlq: KafkaPublisher,
        max_records: int = 2000,
        poll_timeout_ms: int = 200,
        client_id: str | None = None,
        fetch_max_bytes: int = FETCH_MAX_BYTES,
        stuck_after_seconds: float = DEFAULT_STUCK_AFTER_SECONDS,
        reports_progress: bool = False,
    ) -> None:
        """`reports_progress`: hand each batch over with how far each held partition is read
        (`shared.partition_progress`), for a handler that keeps a clock by event time."""
        self.topic = topic
        self.group_id = group_id
        self._decode = decode
        self._handle = handle
        self._dlq = dlq
        self._max_records = max_records
        self._reports_progress = reports_progress
        self._poll_timeout_ms = poll_timeout_ms
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            client_id=client_id or group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_partition_fetch_bytes=min(4 * 1024 * 1024, fetch_max_bytes),
            # Fetched (compressed) record batches wait in memory until polled: this bounds them.
            fetch_max_bytes=fetch_max_bytes,
        )
        self._stopping = asyncio.Event()
        self.started = asyncio.Event()
        self.batches_processed = 0
        self.progress = MemberProgress(group_id, stuck_after_seconds)

    async def run(self) -> None:
        register_progress(self.progress)
        try:
            await self._start_with_retry()
            self.started.set()
            await self._consume()
        finally:
            unregister_progress(self.progress)

    async def _consume(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    batch = await self._consumer.getmany(
                        timeout_ms=self._poll_timeout_ms, max_records=self._max_records
                    )
                except KafkaError as exc:
                    log.warning("consumer_poll_failed", error=repr(exc))
                    await self._pause(1.0)
                    continue
                records = [r for part in batch.values() for r in part]
                names = share_repeated_headers(records)
                if records:
                    try:
                        # Only a batch with a redriven record needs each record's headers read.
                        redriven = REDRIVE_FOR_HEADER in names
                        if self._reports_progress:
                            with handling_batch(await self._partition_progress()):
                                await self._process_until_done(records, redriven)
                        else:
                            await self._process_until_done(records, redriven)
                    except _Stopped:
                        break
                    await self._commit(batch)
                    self._record_lag(batch)
                    del batch, records  # before the trim: the batch is done with
                    return_freed_memory()
                self.progress.progressed()  # a batch committed, or nothing left to consume
        finally:
            await self._consumer.stop()

    async def _start_with_retry(self) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            try:
                await self._consumer.start()
                return
            except KafkaError as exc:
                log.warning("consumer_start_failed", error=repr(exc), retry_in=delay)
                await self._pause(delay)
                delay = min(delay * 2, 10.0)

    async def _process_until_done(
        self,
        records: list[ConsumerRecord],  # type: ignore[type-arg]
        redriven: bool = True,
    ) -> None:
        started = time.perf_counter()
        summary = _summary(records)
        self.progress.begin(str(summary["offsets"]))
        decoded: list[Decoded[T]] = []
        poison: list[Poison] = []
        for rec in records:
            if redriven and not meant_for(rec, self.group_id):
                continue  # committed with the batch, untouched
            try:
                decoded.append(Decoded(rec, self._decode(rec)))
            except Exception as exc:  # any decode failure makes the record poison
                poison.append(Poison(rec, describe(exc)))
        poison += await self._settle(decoded, summary)
        await self._dead_letter(poison, summary)
        seconds = time.perf_counter() - started
        BATCH_LATENCY.labels(self.group_id).observe(seconds)
        if seconds > SLOW_BATCH_SECONDS:  # a summary line, never one per event (10k+/s)
            log.info(
                "slow_batch", group=self.group_id, **summary, poison=len(poison),
                seconds=round(seconds, 3),
            )  # fmt: skip
        for ce_type, n in Counter(ce_type_of(r.headers) for r in records).items():
            EVENTS_CONSUMED.labels(self.topic, self.group_id, ce_type).inc(n)
        self.batches_processed += 1

    async def _settle(self, items: list[Decoded[T]], summary: dict[str, object]) -> list[Poison]:
        """Processes the items, in order; returns the poison records found among them.

        A deterministic failure is retried once (it may be a flake taken for one), then the
        items are bisected until each failing record stands alone: the others are processed
        (each half in order, the first before the second, so per-customer order holds) and
        only the failing ones are returned, to be dead-lettered.
        """
        if not items:
            return []
        try:
            return await self._handle_through_outages(items, summary)
        except _RecordFailure as failed:
            # The traceback once per batch: bisecting repeats the failure a few dozen times.
            log.warning("batch_failed_retrying_once", group=self.group_id, **summary,
                        error=failed.error, exc_info=failed.__cause__)  # fmt: skip
        try:
            return await self._handle_through_outages(items, summary)
        except _RecordFailure as failed:
            log.warning("batch_failed_bisecting", group=self.group_id, **summary,
                        error=failed.error)  # fmt: skip
            return await self._bisect(items, failed.error, summary)

    async def _bisect(
        self, items: list[Decoded[T]], error: str, summary: dict[str, object]
    ) -> list[Poison]:
        """`items` failed with `error`: finds which of them fail alone, processes the rest."""
        if len(items) == 1:
            return [Poison(items[0].record, error)]
        middle = len(items) // 2
        poison: list[Poison] = []
        for half in (items[:middle], items[middle:]):
            try:
                poison += await self._handle_through_outages(half, summary)
            except _RecordFailure as failed:
                log.info("bisect_half_failed", group=self.group_id, **summary,
                         failing=len(half), error=failed.error)  # fmt: skip
                poison += await self._bisect(half, failed.error, summary)
        return poison

    async def _handle_through_outages(
        self, items: list[Decoded[T]], summary: dict[str, object]
    ) -> list[Poison]:
        """Handles the items, retrying transient failures with backoff until they pass (or stop
        is asked); raises `_RecordFailure` for a deterministic one."""
        delay = 0.2
        while True:
            try:
                return await self._handle(items)
            except Exception as exc:
                error = describe(exc)
                self.progress.failed(error)
                if not is_transient(exc):
                    raise _RecordFailure(error) from exc
                log.warning("batch_retry", group=self.group_id, **summary, failing=len(items),
                            error=error, retry_in=delay)  # fmt: skip
            await self._pause_or_stop(delay)
            delay = min(delay * 2, 10.0)

    async def _dead_letter(self, poison: list[Poison], summary: dict[str, object]) -> None:
        """Publishes the poison records to the DLQ before their offsets are committed."""
        if not poison:
            return
        delay = 0.2
        while True:
            try:
                await self._dlq.publish([dead_letter(p, self.group_id) for p in poison])
                break
            except Exception as exc:  # the DLQ is our own dependency: retry, never skip
                error = describe(exc)
                self.progress.failed(error)
                log.warning("dead_letter_retry", group=self.group_id, **summary, error=error,
                            retry_in=delay)  # fmt: skip
            await self._pause_or_stop(delay)
            delay = min(delay * 2, 10.0)
        for p in poison:
            DLQ_RECORDS.labels(p.record.topic).inc()
            CONSUMER_DEAD_LETTERED.labels(self.group_id, p.record.topic).inc()
            log.warning(
                "dead_lettered",
                **record_fields(p.record.key, p.record.headers),
                topic=p.record.topic,
                partition=p.record.partition,
                offset=p.record.offset,
                group=self.group_id,
                error=p.error,
            )

    async def _pause_or_stop(self, seconds: float) -> None:
        if self._stopping.is_set():
            raise _Stopped
        await self._pause(seconds)

    async def _commit(self, batch: dict[TopicPartition, Sequence[ConsumerRecord]]) -> None:  # type: ignore[type-arg]
        # Partitions taken away during the batch (a rebalance) are re-read by their new owner
        # from its last commit; committing them here would raise and stop nothing useful.
        assigned = self._consumer.assignment()
        offsets = {tp: recs[-1].offset + 1 for tp, recs in batch.items() if recs and tp in assigned}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # Partitions moved to another instance; it re-reads them and dedup absorbs the repeat.
            log.warning("commit_failed", error=repr(exc))

    def _record_lag(self, batch: dict[TopicPartition, Sequence[ConsumerRecord]]) -> None:  # type: ignore[type-arg]
        assigned = self._consumer.assignment()
        for tp, recs in batch.items():
            if tp not in assigned:  # highwater() raises for a partition moved away meanwhile
                continue
            highwater = self._consumer.highwater(tp)
            if highwater is not None and recs:
                CONSUMER_LAG.labels(self.group_id, tp.topic, tp.partition).set(
                    highwater - recs[-1].offset - 1
                )

    async def _partition_progress(self) -> PartitionProgress:
        """Which held partitions are read to their end: the position (just past the batch)
        reached the high watermark of the latest fetch."""
        caught_up = {}
        for tp in self._consumer.assignment():
            try:
                highwater = self._consumer.highwater(tp)
                # Known once fetched from, and then so is the position, unless it is being
                # reset: never wait for that here (not known: not read to its end).
                position = (
                    None
                    if highwater is None
                    else await asyncio.wait_for(self._consumer.position(tp), POSITION_WAIT)
                )
            except IllegalStateError:  # moved to another member meanwhile
                continue
            except TimeoutError:
                position = None
            done = highwater is not None and position is not None and position >= highwater
            caught_up[tp.partition] = done
        return PartitionProgress(self.topic, caught_up)

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass

    def assigned_partitions(self) -> set[int]:
        """The partitions of the topic this member holds now (empty before it joined)."""
        return {tp.partition for tp in self._consumer.assignment()}

    def stop(self) -> None:
        self._stopping.set()


class GroupMembers(Generic[T]):
    """Several members of one consumer group in this process, each a `BatchConsumer`.

    Kafka splits the partitions between them and each batch is still one transaction, so
    ordering per customer and the offsets-after-commit rule hold as with separate instances;
    while one member waits on the database, another decodes and derives its own batch, and
    the database works on two transactions at once (measured in bench/: scoring 5,500 ->
    9,900 events/s with three members on two cores).
    """

    def __init__(self, count: int, make: Callable[[int], BatchConsumer[T]]) -> None:
        """`make(n)` builds member n (0-based), e.g. with its own client id."""
        if count < 1:
            raise ValueError(f"a consumer group needs at least one member, got {count}")
        self.members = [make(n) for n in range(count)]

    async def run(self) -> None:
        await asyncio.gather(*(member.run() for member in self.members))

    async def wait_started(self) -> None:
        for member in self.members:
            await member.started.wait()

    def stop(self) -> None:
        for member in self.members:
            member.stop()
