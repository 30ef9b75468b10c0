"""What a service runs beside its routes, started and stopped in one place.

Every service's lifespan opens the same things (logging, the database engine, the Kafka
publisher, the API-key store) and runs the same kinds of background work (consumers, the outbox
relay, periodic jobs). `service_runtime` opens them and, at shutdown, stops the work first,
waits for it, then closes what the work used: publisher, then engine.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.auth import KeyStore
from shared.db import make_engine
from shared.erasure_consumer import EraseOwn, erasure_consumer
from shared.kafka_consumer import FETCH_MAX_BYTES, BatchConsumer, BatchHandler, Decoder
from shared.kafka_producer import KafkaPublisher
from shared.logging import configure_logging
from shared.outbox import RELAY_BATCH_SIZE, OutboxRelay
from shared.periodic import Tick, run_periodically
from shared.settings import ServiceSettings

T = TypeVar("T")
# (group suffix, topic, decoder, batch handler) of one consumed topic
TopicWiring = tuple[str, str, Decoder[Any], BatchHandler[Any]]


class GroupSettings(Protocol):
    """A consuming service's settings: its consumer groups' prefix and batch size."""

    @property
    def consumer_group(self) -> str: ...

    @property
    def consumer_max_records(self) -> int: ...


class Runner(Protocol):
    """A long-running part (consumer, relay) that stops when asked."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class BackgroundWork:
    """The tasks a service runs until shutdown; `stopping` is set when they are to end."""

    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _runners: list[Runner] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    def run(self, name: str, runner: Runner) -> None:
        self._runners.append(runner)
        self.task(name, runner.run())

    def every(self, name: str, tick: Tick, interval: float, *, wait_first: bool = False) -> None:
        """A periodic job (shared/periodic.py) named `name` in its task and its failure logs."""
        self.task(
            name, run_periodically(name, tick, interval, self.stopping, wait_first=wait_first)
        )

    def task(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        """Work that ends by itself once `stopping` is set."""
        self._tasks.append(asyncio.create_task(work, name=name))

    def close_at_stop(self, close: Callable[[], Awaitable[Any]]) -> None:
        """Closed after the work has ended, before the publisher and the engine."""
        self._closers.append(close)

    async def stop(self) -> None:
        for runner in self._runners:
            runner.stop()
        self.stopping.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for close in self._closers:
            await close()


@dataclass
class ServiceRuntime:
    settings: ServiceSettings
    engine: AsyncEngine
    publisher: KafkaPublisher
    work: BackgroundWork

    def consumer(
        self,
        *,
        topic: str,
        group_id: str,
        decode: Decoder[T],
        handle: BatchHandler[T],
        max_records: int,
        client_id: str | None = None,
        fetch_max_bytes: int = FETCH_MAX_BYTES,
        reports_progress: bool = False,
    ) -> BatchConsumer[T]:
        """A consumer of `topic` that dead-letters through this service's publisher."""
        return BatchConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            topic=topic,
            group_id=group_id,
            decode=decode,
            handle=handle,
            dlq=self.publisher,
            max_records=max_records,
            stuck_after_seconds=self.settings.consumer_stuck_after_seconds,
            client_id=client_id,
            fetch_max_bytes=fetch_max_bytes,
            reports_progress=reports_progress,
        )

    def consumer_groups(
        self,
        groups: GroupSettings,
        wiring: Sequence[TopicWiring],
        erase_own: EraseOwn,
        service: str,
    ) -> list[BatchConsumer[Any]]:
        """One consumer group per topic (`<group>-<suffix>`: each topic read in order per
        customer, at its own pace), and the erasure tombstones' in `<group>-state`."""
        group = groups.consumer_group
        topics = [
            self.consumer(
                topic=topic,
                group_id=f"{group}-{suffix}",
                decode=decode,
                handle=handle,
                max_records=groups.consumer_max_records,
            )
            for suffix, topic, decode, handle in wiring
        ]
        erasures = self.erasures(group_id=f"{group}-state", erase_own=erase_own, service=service)
        return [*topics, erasures]

    def erasures(self, *, group_id: str, erase_own: EraseOwn, service: str) -> BatchConsumer[Any]:
        """This service's consumer of the erasure tombstones (shared/erasure_consumer.py)."""
        return erasure_consumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=group_id,
            engine=self.engine,
            erase_own=erase_own,
            secret=self.settings.erasure_secret,
            service=service,
            dlq=self.publisher,
            stuck_after_seconds=self.settings.consumer_stuck_after_seconds,
        )

    def outbox_relay(self, service: str, batch_size: int = RELAY_BATCH_SIZE) -> OutboxRelay:
        """The relay of this service's outbox rows to Kafka."""
        return OutboxRelay(
            self.engine, self.publisher, service, batch_size, listen=self.settings.outbox_listen
        )


@asynccontextmanager
async def service_database(app: FastAPI, settings: ServiceSettings) -> AsyncIterator[AsyncEngine]:
    """What every service opens first: logging, the database engine, and settings, engine and
    API-key store on `app.state` (the routes read them there); the engine is closed last."""
    configure_logging(settings.service_name, settings.log_level)
    engine = make_engine(settings.database_url, settings.db_pool_size)
    app.state.settings, app.state.engine = settings, engine
    app.state.key_store = KeyStore(engine, settings.api_key_cache_seconds)
    try:
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
async def service_runtime(
    app: FastAPI, settings: ServiceSettings, kafka_client_id: str
) -> AsyncIterator[ServiceRuntime]:
    """`service_database` plus the Kafka publisher (also on `app.state`) and the background
    work; at shutdown the work stops first, then the publisher, then the engine."""
    async with service_database(app, settings) as engine:
        publisher = KafkaPublisher(settings.kafka_bootstrap_servers, kafka_client_id)
        app.state.publisher = publisher
        runtime = ServiceRuntime(settings, engine, publisher, BackgroundWork())
        try:
            yield runtime
        finally:
            await runtime.work.stop()
            await publisher.stop()
