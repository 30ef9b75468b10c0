"""Broker down -> 503 with Retry-After and nothing accepted; broker back -> ingest recovers alone.

Runs its own disposable broker so that stopping it does not disturb the other tests.
"""

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import ConsumerRecord

from deploy.local.stack import KafkaNode
from shared.kafka_admin import ensure_topics, wait_for_broker
from shared.topics import CUSTOMER_EVENTS
from tests.support.factories import new_customer, purchase
from tests.support.polling import eventually
from tests.support.services import ServiceProcess, free_port
from tests.support.topics import TopicTail


@pytest.fixture(scope="module")
def outage_broker() -> Iterator[KafkaNode]:
    with tempfile.TemporaryDirectory(prefix="clm-outage-broker-") as home:
        node = KafkaNode("kafka-outage-test", Path(home), free_port(), free_port(), heap="512m")
        node.start()
        try:
            yield node
        finally:
            node.stop(crash=True)  # disposable: no need for a clean shutdown


async def test_broker_outage_gives_503_and_ingest_recovers_without_restart(
    outage_broker: KafkaNode, start_service: Callable[..., ServiceProcess], admin_key: str
) -> None:
    await wait_for_broker(outage_broker.bootstrap, 90)
    await ensure_topics(outage_broker.bootstrap, 3)
    ingest = start_service(
        "ingest",
        KAFKA_BOOTSTRAP_SERVERS=outage_broker.bootstrap,
        CLM_INGEST_PUBLISH_TIMEOUT_SECONDS="3",
    )
    customer = new_customer()
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=ingest.url, headers=headers, timeout=30) as client:
        before = purchase(customer)
        assert (await client.post("/v1/events", json=before)).status_code == 202

        outage_broker.stop(crash=True)
        during = purchase(customer)
        single = await client.post("/v1/events", json=during)
        batch = await client.post("/v1/events/batch", json={"events": [purchase(customer)]})
        assert single.status_code == batch.status_code == 503
        assert single.headers["retry-after"].isdigit()
        assert single.headers["content-type"] == "application/problem+json"
        assert (await client.get("/readyz")).status_code == 503

        outage_broker.start()
        await wait_for_broker(outage_broker.bootstrap, 90)
        after = purchase(customer)

        async def accepted() -> bool:
            resp = await client.post("/v1/events", json=after)
            return resp.status_code == 202

        await eventually(accepted, timeout=60, interval=0.5, what="ingest to accept again")
        # Everything the customer's partition holds: what got 503 must never show up later.
        async with TopicTail(outage_broker.bootstrap, CUSTOMER_EVENTS, from_beginning=True) as tail:
            kept = await tail.collect(
                lambda r: r.key == customer.encode(),
                until=lambda k: any(_ce_id(r) == after["event_id"] for r in k),
            )
            await _drain_briefly(tail)
            kept = [r for r in tail.records if r.key == customer.encode()]
        assert [_ce_id(r) for r in kept] == [before["event_id"], after["event_id"]]
        assert (await client.get("/readyz")).status_code == 200


def _ce_id(record: ConsumerRecord) -> str:  # type: ignore[type-arg]
    return dict(record.headers)["ce_id"].decode()


async def _drain_briefly(tail: TopicTail) -> None:
    """Reads on for a short while so that a late, unasked delivery would be seen."""
    with contextlib.suppress(AssertionError):
        await tail.collect(lambda r: True, until=lambda k: False, timeout=3)
