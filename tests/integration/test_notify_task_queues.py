"""Issue 16.1b over real Kafka and PostgreSQL: an account-manager queue takes its daily
capacity of human tasks, the most valuable customers first; the overflow is visible."""

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.topics import CUSTOMER_EVENTS, CUSTOMER_SCORES, LIFECYCLE_CHANGES
from tests.integration.test_notify import (
    WEBHOOK_SECRET,
    Receiver,
    _async,
    _change,
    _new_contact,
    _publish_change,
    _publish_scores,
    mailbox,  # noqa: F401 (fixture)
    receiver,  # noqa: F401 (fixture)
)
from tests.support.infra import Infrastructure
from tests.support.notify_probes import clv_band_shown
from tests.support.playbook_files import default_playbooks, write_playbooks
from tests.support.polling import eventually
from tests.support.services import ServiceProcess, free_port, service_client
from tests.support.topics import start_group_at_end

RUN = uuid.uuid4().hex[:8]
QUEUE = f"managers_{RUN}"  # a queue of this run only: earlier runs' tasks do not count
PLAYBOOK = f"high_value_{RUN}"
GROUP = f"clm-notify-queues-{RUN}"
CAPACITY = 2


@pytest.fixture(scope="module")
def playbooks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = default_playbooks()
    raw["policy"]["task_queues"] = [{"name": QUEUE, "daily_capacity": CAPACITY}]
    raw["playbooks"] = [
        {
            "name": PLAYBOOK,
            "trigger": {"kind": "tier_entered", "tier": "A"},
            # due a little later, so that the tasks of all five fall due in one sender pass
            "steps": [
                {
                    "name": "introduce",
                    "channel": "webhook",
                    "template": "high_value_task",
                    "queue": QUEUE,
                    "delay": "8s",
                }
            ],
        }
    ]
    path = write_playbooks(raw, tmp_path_factory, "queues")
    return path


@pytest.fixture(scope="module")
async def notify(
    infra: Infrastructure,
    service_env: dict[str, str],
    mailbox: Any,  # noqa: F811
    receiver: Receiver,  # noqa: F811
    playbooks: Path,
) -> AsyncIterator[ServiceProcess]:
    for suffix, topic in (("lifecycle", LIFECYCLE_CHANGES), ("events", CUSTOMER_EVENTS),
                          ("scores", CUSTOMER_SCORES)):  # fmt: skip
        await start_group_at_end(infra.kafka_bootstrap, f"{GROUP}-{suffix}", [topic])
    controller, _ = mailbox
    env = {
        **service_env,
        "CLM_NOTIFY_CONSUMER_GROUP": GROUP,
        "CLM_NOTIFY_PLAYBOOKS_PATH": str(playbooks),
        "CLM_NOTIFY_SMTP_PORT": str(controller.port),
        "CLM_NOTIFY_WEBHOOK_URL": f"{receiver.url}/tasks",
        "CLM_NOTIFY_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "CLM_NOTIFY_SENDER_INTERVAL_SECONDS": "0.2",
    }
    # Stopped with the module: its playbooks and dedup rows must not meet other tests' events.
    proc = ServiceProcess("notify", free_port(), env)
    try:
        yield proc.start()
    finally:
        proc.stop()


@pytest.fixture
async def client(notify: ServiceProcess, admin_key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client(notify, admin_key) as c:
        yield c


async def test_a_full_queue_gives_the_most_valuable_a_person_and_lists_the_overflow(
    infra: Infrastructure,
    ingest_client: httpx.AsyncClient,
    client: httpx.AsyncClient,
    receiver: Receiver,  # noqa: F811
) -> None:
    values = [1_000.0, 9_000_000.0, 50_000.0, 7_000_000.0, 300.0]
    customers = [(await _new_contact(ingest_client, client, prefix="q"))[0] for _ in values]
    for customer, clv in zip(customers, values, strict=True):
        await _publish_scores(infra.kafka_bootstrap, customer, clv=clv, churn_risk=0.1)
    for customer, clv in zip(customers, values, strict=True):  # the CLVs rank the queue
        band = "high" if clv >= 5_000_000 else "low"
        await clv_band_shown(client, customer, band, preview=(PLAYBOOK, "introduce"))
    await _publish_change(
        infra.kafka_bootstrap,
        [_change(c, "tier", from_tier="B", to_tier="A") for c in customers],
    )

    async def settled() -> dict[str, Any] | None:
        resp = await client.get("/v1/task-queues")
        assert resp.status_code == 200, resp.text
        [queue] = [q for q in resp.json()["items"] if q["name"] == QUEUE]
        done = queue["taken_today"] == CAPACITY and len(queue["overflow_today"]) == 3
        return queue if done else None

    queue = await eventually(settled, timeout=90, interval=0.5, what="the queue to fill")
    assert queue["daily_capacity"] == CAPACITY
    by_value = dict(zip(customers, values, strict=True))
    overflow = queue["overflow_today"]
    assert [o["customer_id"] for o in overflow] == [customers[2], customers[0], customers[4]]
    assert [o["clv"] for o in overflow] == sorted((by_value[o["customer_id"]] for o in overflow),
                                                  reverse=True)  # fmt: skip
    assert {o["reason"] for o in overflow} == {f"queue_full:{QUEUE}"}
    await eventually(
        lambda: _async(all(receiver.tasks_for(c) for c in (customers[1], customers[3]))),
        timeout=30,
        what="tasks for the two most valuable",
    )
    assert [
        t for c in (customers[0], customers[2], customers[4]) for t in receiver.tasks_for(c)
    ] == []
