"""Issue 16.11: ingest's answer to a re-post is the same whichever worker process takes it.

Ingest used to answer `duplicates` from per-process memory: the worker that published an id
named it a duplicate, another answered `duplicates: []`. The answer no longer claims it.
"""

from collections.abc import Callable

import httpx

from tests.support.factories import new_customer, purchase
from tests.support.services import ServiceProcess


async def test_a_repost_gets_the_same_answer_from_every_worker(
    ingest: ServiceProcess, start_service: Callable[..., ServiceProcess], admin_key: str
) -> None:
    other = start_service("ingest")
    event = purchase(new_customer("repost"))
    batch = {"events": [event, purchase(new_customer("repost"))]}
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        first = await http.post(f"{ingest.url}/v1/events", json=event)
        same_worker = await http.post(f"{ingest.url}/v1/events", json=event)
        other_worker = await http.post(f"{other.url}/v1/events", json=event)
        batches = [await http.post(f"{url}/v1/events/batch", json=batch) for url in
                   (ingest.url, ingest.url, other.url)]  # fmt: skip
    assert first.status_code == same_worker.status_code == other_worker.status_code == 202
    assert first.json() == same_worker.json() == other_worker.json()
    assert same_worker.json() == {"accepted": 1, "event_ids": [event["event_id"]]}
    assert [b.status_code for b in batches] == [202] * 3
    assert batches[0].json() == batches[1].json() == batches[2].json()
