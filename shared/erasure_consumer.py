"""Erasure by event: each service erases its own data when it reads the erasure tombstone.

Lifecycle records the erasure (shared/erasure.py) and then publishes the tombstone on
clm.customer-state.v1 (shared/contracts/customer_state.py). Scoring and notify each consume
that topic in their own group and run their own `EraseOwn` in one transaction per batch, under
the erasure lock as lifecycle does (no batch in flight re-inserts what is deleted). Idempotent:
a repeated tombstone deletes nothing more. A tombstone for an id that was never recorded as
erased is poison (dead-lettered, nothing deleted): only lifecycle's erasure deletes data.
"""

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.contracts.customer_state import TOPIC, CustomerState, decode_record
from shared.erasure import erased_among, lock_for_erasure
from shared.kafka_consumer import BatchConsumer, BatchHandler, Decoded, Poison
from shared.kafka_producer import KafkaPublisher
from shared.logging import get_logger

log = get_logger(__name__)
# Erases one customer's rows of one service inside the caller's transaction; returns the rows.
EraseOwn = Callable[[AsyncConnection, str], Awaitable[int]]
NOT_RECORDED = "NotErased: tombstone for a customer id with no erasure record"


def erasure_handler(
    engine: AsyncEngine, erase_own: EraseOwn, secret: str, service: str
) -> BatchHandler[CustomerState]:
    async def handle(batch: list[Decoded[CustomerState]]) -> list[Poison]:
        tombstones = [item for item in batch if item.message.erased]
        if not tombstones:
            return []
        async with engine.begin() as conn:
            await lock_for_erasure(conn)
            ids = {item.message.customer_id for item in tombstones}
            recorded = await erased_among(conn, ids, secret)
            rows = 0
            for customer_id in sorted(recorded):
                rows += await erase_own(conn, customer_id)
        log.info("customers_erased", service=service, customers=len(recorded), rows=rows)
        return [
            Poison(item.record, NOT_RECORDED)
            for item in tombstones
            if item.message.customer_id not in recorded
        ]

    return handle


def erasure_consumer(
    *,
    bootstrap_servers: str,
    group_id: str,
    engine: AsyncEngine,
    erase_own: EraseOwn,
    secret: str,
    service: str,
    dlq: KafkaPublisher,
    stuck_after_seconds: float,
) -> BatchConsumer[CustomerState]:
    """The service's consumer of clm.customer-state.v1 (its own group, e.g. `clm-scoring-state`)."""
    return BatchConsumer(
        bootstrap_servers=bootstrap_servers,
        topic=TOPIC,
        group_id=group_id,
        decode=decode_record,
        handle=erasure_handler(engine, erase_own, secret, service),
        dlq=dlq,
        max_records=1000,
        stuck_after_seconds=stuck_after_seconds,
        client_id=f"{group_id}-0",
    )
