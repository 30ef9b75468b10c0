"""Transactional outbox: rows written in the same transaction as the state change, then relayed.

A relay publishes pending rows in id order and marks them sent. A crash between publishing and
marking republishes the same records; CloudEvent ids are deterministic, so readers that dedupe
by id see each change once. One relay per service holds an advisory lock so order is kept.

The relay is woken as soon as a transaction that wrote outbox rows commits: a statement
trigger on the table (migration 0014_h9) sends NOTIFY on `OUTBOX_CHANNEL`, which PostgreSQL
delivers at commit, and the relay LISTENs on its own connection. Polling stays as the fallback
for a wake-up lost with that connection: every `idle_interval_s` while it is down, every
`listening_interval_s` while it is up (idle relays then cost the database next to nothing).
"""

import asyncio
import zlib
from collections.abc import Sequence
from itertools import groupby
from operator import attrgetter

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import BYTEA, JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.cloudevents import KafkaRecord, outbox_headers
from shared.db import asyncpg_connection, metadata
from shared.kafka_producer import KafkaPublisher, PublishError
from shared.logging import get_logger
from shared.metrics import OUTBOX_BACKLOG
from shared.pg_listen import ChannelListener

log = get_logger(__name__)
# NOTIFY'd once per committed transaction that inserted outbox rows (trigger of 0014_h9).
OUTBOX_CHANNEL = "clm_outbox"
LISTEN_CHECK_SECONDS = 30.0  # how often an idle LISTEN connection is checked to be alive
# The fallback poll while LISTEN is up: every commit wakes the relay, so a poll finds rows only
# after a notification was lost with a connection that is not yet known to be dead.
LISTENING_POLL_SECONDS = 1.0

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("service", sa.String(32), nullable=False),
    sa.Column("topic", sa.String(255), nullable=False),
    sa.Column("key", BYTEA, nullable=False),
    sa.Column("value", BYTEA, nullable=False),
    sa.Column("headers", JSONB, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    sa.Index("ix_outbox_pending", "service", "id"),
)


def outbox_rows(service: str, records: Sequence[KafkaRecord]) -> list[dict[str, object]]:
    return [
        {
            "service": service,
            "topic": r.topic,
            "key": r.key,
            "value": r.value,
            "headers": [[k, v.decode()] for k, v in r.headers],
        }
        for r in records
    ]


# A message as the outbox keeps it: key, value, headers as JSON text (HeaderEncoder.json).
EncodedRow = tuple[bytes, bytes, str]
_COLUMNS = ["service", "topic", "key", "value", "headers"]
_INSERT = """
INSERT INTO outbox (service, topic, key, value, headers)
SELECT $1, $2, u.key, u.value, u.headers::jsonb
FROM unnest($3::bytea[], $4::bytea[], $5::text[]) WITH ORDINALITY AS u(key, value, headers, n)
ORDER BY u.n
"""  # ids follow the order given: the relay publishes in id order


async def write_encoded(
    conn: AsyncConnection,
    service: str,
    topic: str,
    rows: Sequence[EncodedRow],
    *,
    bulk: bool = False,
) -> None:
    """The one writer into the outbox table, inside the caller's transaction.

    One statement whatever the batch size; `bulk` uses COPY instead (a rescore may write
    millions of rows). Rows keep the order given (the relay publishes in id order).
    """
    if not rows:
        return
    driver = await asyncpg_connection(conn)
    if bulk:
        records = [(service, topic, key, value, headers) for key, value, headers in rows]
        await driver.copy_records_to_table("outbox", records=records, columns=_COLUMNS)
        return
    await driver.execute(
        _INSERT,
        service,
        topic,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
    )


async def enqueue(conn: AsyncConnection, service: str, records: Sequence[KafkaRecord]) -> None:
    """Kafka records into the outbox (through `write_encoded`), in order."""
    for topic, run in groupby(records, key=attrgetter("topic")):
        encoded = [(r.key, r.value, outbox_headers(r.headers)) for r in run]
        await write_encoded(conn, service, topic, encoded)


_TRY_LOCK = "SELECT pg_try_advisory_xact_lock($1::bigint)"
_PENDING = (
    "SELECT id, topic, key, value, headers::text FROM outbox "
    "WHERE service = $1 ORDER BY id LIMIT $2"
)
_DONE = "DELETE FROM outbox WHERE id = ANY($1::bigint[])"

RELAY_BATCH_SIZE = 2000  # rows per relay round unless the service sets its own


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        publisher: KafkaPublisher,
        service: str,
        batch_size: int = RELAY_BATCH_SIZE,
        idle_interval_s: float = 0.1,
        *,
        listen: bool = True,
        listening_interval_s: float = LISTENING_POLL_SECONDS,
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._service = service
        self._batch_size = batch_size
        self._idle = idle_interval_s
        self._listening_idle = max(idle_interval_s, listening_interval_s)
        self._listen_enabled = listen
        self._lock_id = zlib.crc32(f"outbox:{service}".encode())
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        # Set while the LISTEN connection is up (tests wait for it before writing).
        self.listening = asyncio.Event()

    async def relay_once(self) -> int:
        """Publishes up to one batch of pending rows; returns how many were published."""
        async with self._engine.begin() as conn:
            # asyncpg directly: the relay reads every row the services write (no ORM rows,
            # headers parsed by orjson).
            driver = await asyncpg_connection(conn)
            if not await driver.fetchval(_TRY_LOCK, self._lock_id):
                return 0
            rows = await driver.fetch(_PENDING, self._service, self._batch_size)
            if not rows:
                OUTBOX_BACKLOG.labels(self._service).set(0)
                return 0
            records = [
                KafkaRecord(topic, key, value, [(k, v.encode()) for k, v in orjson.loads(headers)])
                for _, topic, key, value, headers in rows
            ]
            await self._publisher.publish(records)
            await driver.execute(_DONE, [r[0] for r in rows])
        return len(rows)

    async def run(self) -> None:
        listener = None
        if self._listen_enabled:
            listening = ChannelListener(
                self._engine, OUTBOX_CHANNEL, lambda _: self._wake.set(),
                on_listening=self._listening_started, on_lost=self.listening.clear,
                check_seconds=LISTEN_CHECK_SECONDS, lost_event="outbox_listen_lost",
            )  # fmt: skip
            listener = asyncio.create_task(listening.run())
        delay = self._idle
        try:
            while not self._stopping.is_set():
                self._wake.clear()  # rows committed from here on wake the next wait
                failed = False
                try:
                    published = await self.relay_once()
                    delay = self._idle
                except (PublishError, OSError) as exc:
                    log.warning("outbox_relay_failed", error=repr(exc))
                    published, delay, failed = 0, min(max(delay * 2, 0.5), 10.0), True
                except Exception as exc:  # the database may be restarting; keep trying
                    log.exception("outbox_relay_error", error=repr(exc))
                    published, delay, failed = 0, min(max(delay * 2, 0.5), 10.0), True
                if published < self._batch_size:
                    # After a failure only stop cuts the backoff short: new rows must not
                    # turn it into a retry per commit.
                    if not failed and self.listening.is_set():
                        delay = self._listening_idle  # commits wake it; the poll is a backstop
                    await self._wait(delay, woken_by_rows=not failed)
        finally:
            if listener is not None:
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)

    async def _wait(self, seconds: float, *, woken_by_rows: bool) -> None:
        waits = [asyncio.ensure_future(self._stopping.wait())]
        if woken_by_rows:
            waits.append(asyncio.ensure_future(self._wake.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    def _listening_started(self) -> None:
        self.listening.set()
        self._wake.set()  # rows committed while nobody listened

    def stop(self) -> None:
        self._stopping.set()
