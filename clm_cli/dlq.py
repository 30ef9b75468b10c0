"""Dead-letter topics: list, show, and redrive records to the topic they came from."""

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from clm_cli.errors import CliError
from clm_cli.kafka_ops import consumer, partitions_of, read_range
from shared.cloudevents import KafkaRecord
from shared.kafka_producer import KafkaPublisher, PublishError
from shared.topics import (
    DLQ_GROUP_HEADER,
    DLQ_HEADERS,
    DLQ_ORIGIN_HEADER,
    DLQ_SUFFIX,
    DLQ_TRUNCATED_HEADER,
    REDRIVE_FOR_HEADER,
    dlq_of,
)

# Offsets of this group mark how far each DLQ partition has been redriven.
REDRIVE_GROUP = "clm-dlq-redrive"


def dlq_topic(topic: str) -> str:
    """`--topic` names the original topic; its dead-letter twin is accepted as well."""
    return topic if topic.endswith(DLQ_SUFFIX) else dlq_of(topic)


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    timestamp: datetime
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    @classmethod
    def of(cls, record: ConsumerRecord) -> "DeadLetter":  # type: ignore[type-arg]
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC),
            key=record.key or b"",
            value=record.value or b"",
            headers=tuple((k, v or b"") for k, v in record.headers or ()),
        )

    @property
    def ref(self) -> str:
        return f"{self.partition}:{self.offset}"

    def header(self, name: str) -> str:
        for key, value in self.headers:
            if key == name:
                return value.decode(errors="replace")
        return ""

    @property
    def origin_topic(self) -> str:
        origin = self.header(DLQ_ORIGIN_HEADER)
        return (
            origin.rsplit("/", 2)[0] if origin.count("/") >= 2 else self.topic[: -len(DLQ_SUFFIX)]
        )

    @property
    def origin(self) -> str:
        """Where the record was consumed from (topic/partition/offset); its DLQ place if the
        consumer did not say."""
        return self.header(DLQ_ORIGIN_HEADER) or f"{self.topic}/{self.partition}/{self.offset}"

    def redriven(self, groups: tuple[str, ...] = ()) -> KafkaRecord:
        """The original record again; `groups` (when given) are the only groups to process it."""
        dropped = (*DLQ_HEADERS, REDRIVE_FOR_HEADER)  # an earlier redrive's target is stale
        headers = [(k, v) for k, v in self.headers if k not in dropped]
        if groups:
            headers.append((REDRIVE_FOR_HEADER, ",".join(groups).encode()))
        return KafkaRecord(self.origin_topic, self.key, self.value, headers)


@dataclass(frozen=True)
class Redrive:
    """One original record to publish again, for the groups that dead-lettered it (every
    group when a copy does not name its group)."""

    letter: DeadLetter
    groups: tuple[str, ...]
    copies: int

    def record(self) -> KafkaRecord:
        return self.letter.redriven(self.groups)


def plan_redrive(letters: list[DeadLetter]) -> list[Redrive]:
    """Each dead-lettered original once, however many groups dead-lettered it, in DLQ order."""
    by_origin: dict[str, list[DeadLetter]] = {}
    for letter in letters:
        by_origin.setdefault(letter.origin, []).append(letter)
    plan = []
    for copies in by_origin.values():
        named = [c.header(DLQ_GROUP_HEADER) for c in copies]
        groups = () if "" in named else tuple(sorted(set(named)))
        plan.append(Redrive(copies[0], groups, len(copies)))
    return plan


async def latest(bootstrap: str, topic: str, limit: int) -> list[DeadLetter]:
    """The newest `limit` records of the DLQ topic, oldest first."""
    async with consumer(bootstrap) as kafka:
        tps = await partitions_of(kafka, topic)
        kafka.assign(tps)
        starts, ends = await kafka.beginning_offsets(tps), await kafka.end_offsets(tps)
        ranges = {tp: (max(starts[tp], ends[tp] - limit), ends[tp]) for tp in tps}
        records = [DeadLetter.of(r) for r in await read_range(kafka, ranges)]
    records.sort(key=lambda d: (d.timestamp, d.partition, d.offset))
    return records[-limit:] if limit > 0 else []


def parse_ref(ref: str, partition: int | None) -> tuple[int | None, int]:
    """`OFFSET`, or `PARTITION:OFFSET` as `clm dlq list` prints it."""
    head, sep, tail = ref.partition(":")
    try:
        if sep:
            return int(head), int(tail)
        return partition, int(ref)
    except ValueError as exc:
        raise CliError(f"'{ref}' is not an offset; give OFFSET or PARTITION:OFFSET.") from exc


async def find(bootstrap: str, topic: str, partition: int | None, offset: int) -> DeadLetter:
    async with consumer(bootstrap) as kafka:
        tps = await partitions_of(kafka, topic)
        if partition is not None:
            tps = [tp for tp in tps if tp.partition == partition]
            if not tps:
                raise CliError(f"Topic {topic} has no partition {partition}.")
        kafka.assign(tps)
        ends = await kafka.end_offsets(tps)
        starts = await kafka.beginning_offsets(tps)
        candidates = [tp for tp in tps if starts[tp] <= offset < ends[tp]]
        found = [
            DeadLetter.of(r)
            for r in await read_range(kafka, {tp: (offset, offset + 1) for tp in candidates})
            if r.offset == offset
        ]
    if not found:
        where = f"partition {partition} of {topic}" if partition is not None else topic
        raise CliError(f"There is no record at offset {offset} in {where}.")
    if len(found) > 1:
        parts = ", ".join(str(d.partition) for d in found)
        raise CliError(
            f"Offset {offset} exists in partitions {parts}; give it as PARTITION:OFFSET."
        )
    return found[0]


async def _whole(bootstrap: str, planned: Redrive) -> Redrive:
    """A copy whose value was cut to fit the DLQ is republished from its origin, which holds the
    record whole (until the topic's retention removes it)."""
    letter = planned.letter
    length = letter.header(DLQ_TRUNCATED_HEADER)
    if not length:
        return planned
    topic, partition, offset = letter.origin.rsplit("/", 2)
    try:
        original = await find(bootstrap, topic, int(partition), int(offset))
    except CliError as exc:
        raise CliError(
            f"The DLQ copy {letter.ref} holds only part of its record ({length} bytes), and the "
            f"original at {letter.origin} is no longer in Kafka: nothing was redriven."
        ) from exc
    return replace(planned, letter=replace(letter, value=original.value))


async def redrive(
    bootstrap: str,
    topic: str,
    *,
    dry_run: bool,
    on_published: Callable[[int], None] = lambda n: None,
    on_planned: Callable[[int], None] = lambda n: None,
) -> list[Redrive]:
    """Re-publishes every original not yet redriven once, to the groups that dead-lettered it
    (`plan_redrive`), then commits the redrive group's offsets (a record is published before
    its offset is committed: at least once, and dedup by event id downstream absorbs a repeat
    after a crash in between)."""
    async with consumer(bootstrap, REDRIVE_GROUP) as kafka:
        tps = await partitions_of(kafka, topic)
        kafka.assign(tps)
        starts, ends = await kafka.beginning_offsets(tps), await kafka.end_offsets(tps)
        ranges: dict[TopicPartition, tuple[int, int]] = {}
        for tp in tps:
            done = await kafka.committed(tp)
            ranges[tp] = (max(done if done is not None else 0, starts[tp]), ends[tp])
        records = sorted(
            (DeadLetter.of(r) for r in await read_range(kafka, ranges)),
            key=lambda d: (d.partition, d.offset),
        )
        plan = [await _whole(bootstrap, planned) for planned in plan_redrive(records)]
        on_planned(len(plan))
        if dry_run or not plan:
            return plan
        publisher = KafkaPublisher(bootstrap, "clm-cli-redrive")
        try:
            for start in range(0, len(plan), 500):
                chunk = plan[start : start + 500]
                await publisher.publish([r.record() for r in chunk])
                on_published(len(chunk))
        except PublishError as exc:
            raise CliError(f"Redrive stopped: Kafka did not accept the records ({exc}).") from exc
        finally:
            await publisher.stop()
        try:
            await kafka.commit({tp: end for tp, (start, end) in ranges.items() if end > start})
        except KafkaError as exc:
            raise CliError(
                f"The records were redriven but the group {REDRIVE_GROUP} could not record it "
                f"({exc}); a second redrive would publish them again."
            ) from exc
    return plan
