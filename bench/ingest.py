"""Ingest benchmark: raw aiokafka producer (baseline) vs POST /v1/events/batch vs POST /v1/events.

Run: make infra && .venv/bin/python -m bench.ingest   (uses the local broker and database)
Writes to the scratch topic `bench.customer-events`, never to the contract topic.
"""

import argparse
import asyncio
import gc
import os
import secrets
import statistics
import subprocess
import sys
import time
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaProducer

from shared.auth import Scope, register_key
from shared.cloudevents import to_kafka
from shared.customer_event_codec import to_cloudevent
from shared.db import make_engine
from shared.events import customer_event_adapter
from shared.kafka_admin import ensure_topics
from shared.topics import TopicSpec
from tests.support.factories import purchase
from tests.support.services import LOG_DIR, ROOT, ServiceProcess, free_port

TOPIC = "bench.customer-events"
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql+asyncpg://clm:clm@127.0.0.1:55432/clm")


def payloads(n: int, customers: int) -> list[dict[str, Any]]:
    run = secrets.token_hex(4)
    return [
        purchase(
            f"bench-{run}-{i % customers}", "2024-03-01T10:15:00+08:00", amount=f"{i % 500}.25"
        )
        for i in range(n)
    ]


async def raw_producer(events: list[dict[str, Any]]) -> float:
    records = [
        to_kafka(TOPIC, to_cloudevent(customer_event_adapter.validate_python(e))) for e in events
    ]
    producer = AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP,
        acks="all",
        enable_idempotence=True,
        compression_type="lz4",
        linger_ms=5,
        max_batch_size=1024 * 1024,
    )
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [
            await producer.send(r.topic, r.value, key=r.key, headers=r.headers) for r in records
        ]
        await asyncio.gather(*futures)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    return len(records) / elapsed


async def _post(client: aiohttp.ClientSession, path: str, body: bytes) -> None:
    async with client.post(path, data=body, headers=_JSON) as resp:
        if resp.status != 202:
            raise RuntimeError(f"{path} refused: {resp.status} {(await resp.text())[:200]}")
        await resp.read()


_JSON = {"Content-Type": "application/json"}


async def batch_ingest(
    client: aiohttp.ClientSession, events: list[dict[str, Any]], size: int, concurrency: int
) -> float:
    # Bodies are encoded before the clock starts: the figure is the service's, not the client's.
    bodies = [orjson.dumps({"events": events[i : i + size]}) for i in range(0, len(events), size)]
    it = iter(bodies)

    async def worker() -> None:
        for body in it:
            await _post(client, "/v1/events/batch", body)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(events) / (time.perf_counter() - started)


async def single_at_rate(
    client: aiohttp.ClientSession,
    events: list[dict[str, Any]],
    rate: float | None,
    concurrency: int,
) -> tuple[float, float, float]:
    """Open loop at `rate` req/s, or closed loop with `concurrency` clients when rate is None.

    Open loop: request i is due at start + i/rate whatever happened to earlier ones, and its
    latency counts from when it was due (so a stalled server cannot hide queueing delay).
    """
    bodies = [orjson.dumps(e) for e in events]
    latencies: list[float] = []
    # The client's own full collections (it holds hundreds of thousands of payload objects)
    # would stall its sending and be counted as the service's latency.
    gc.collect()
    gc.freeze()

    async def send(body: bytes, due: float) -> None:
        await _post(client, "/v1/events", body)
        latencies.append(time.perf_counter() - due)

    started = time.perf_counter()
    if rate is not None:
        tasks = []
        for i, body in enumerate(bodies):
            due = started + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing the offered load, not synchronisation
            tasks.append(asyncio.create_task(send(body, due)))
        await asyncio.gather(*tasks)
    else:
        it = iter(bodies)

        async def worker() -> None:
            for body in it:
                await send(body, time.perf_counter())

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100)
    return len(events) / elapsed, q[49] * 1000, q[98] * 1000


def start_ingest(workers: int, timeout: float = 60.0) -> ServiceProcess:
    """Runs ingest as `make run` does (uvicorn with `workers` processes) on a free port."""
    env = {"KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP, "DATABASE_URL": DATABASE_URL}
    service = ServiceProcess("ingest", free_port(), {**env, "CLM_INGEST_TOPIC": TOPIC})
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with open(LOG_DIR / f"bench-ingest-{service.port}.log", "ab") as log:
        service.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "services.ingest.app:app", "--host", "127.0.0.1",
             "--port", str(service.port), "--no-access-log", "--workers", str(workers)],
            env={**os.environ, **service.env}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"ingest exited with {service.process.returncode}; see {log.name}")
        if service.ready():
            return service
        time.sleep(0.2)
    service.stop()
    raise TimeoutError(f"ingest not ready within {timeout}s; see {log.name}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--singles", type=int, default=5_000)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers, as `make run`")
    parser.add_argument("--batch-clients", type=int, default=8)
    args = parser.parse_args()

    await ensure_topics(BOOTSTRAP, 12, [TopicSpec(TOPIC, {"retention.ms": "3600000"})])
    engine = make_engine(DATABASE_URL, pool_size=1)
    key = f"clm_bench_{secrets.token_urlsafe(16)}"
    await register_key(engine, key, "bench", [Scope.EVENTS_WRITE])
    await engine.dispose()

    raw_rate = await raw_producer(payloads(args.events, 10_000))
    service = start_ingest(args.workers)
    try:
        # aiohttp, not httpx: httpx's pool costs more CPU per request than the service does, and
        # client and service share the same two cores.
        def session(*, connection_per_request: bool = False) -> aiohttp.ClientSession:
            return aiohttp.ClientSession(
                base_url=service.url,
                headers={"Authorization": f"Bearer {key}"},
                timeout=aiohttp.ClientTimeout(total=30),
                connector=aiohttp.TCPConnector(limit=64, force_close=connection_per_request),
            )

        # Batches: a connection each, as a batch job posts them or a load balancer spreads them.
        # Over a few long-lived connections the workers' shared accept socket may hand most of
        # them to one worker (the kernel does not balance by load), so that case is shown too.
        async with session(connection_per_request=True) as client:
            await batch_ingest(client, payloads(5_000, 1_000), 500, args.batch_clients)  # warm-up
            batch_rate = await batch_ingest(
                client, payloads(args.events, 10_000), 500, args.batch_clients
            )
        async with session() as client:
            kept_rate = await batch_ingest(
                client, payloads(args.events, 10_000), 500, args.batch_clients
            )
            at500 = await single_at_rate(client, payloads(args.singles, 1_000), 500, 0)
            saturated = await single_at_rate(client, payloads(args.singles, 1_000), None, 32)
    finally:
        service.stop()

    ratio = batch_rate / raw_rate
    print(
        f"\ningest benchmark (local Kafka, 12 partitions, acks=all, lz4; ingest with "
        f"{args.workers} uvicorn worker(s), {args.batch_clients} concurrent batch clients)"
    )
    print(f"  baseline raw aiokafka producer : {raw_rate:10,.0f} events/s")
    print(
        f"  POST /v1/events/batch (500)    : {batch_rate:10,.0f} events/s  "
        f"= {ratio:.2f}x baseline   [required >= 20,000/s and >= 0.40x: "
        f"{'OK' if batch_rate >= 20_000 and ratio >= 0.4 else 'NOT MET'}]"
    )
    print(
        f"    same, {args.batch_clients} keep-alive connections: {kept_rate:10,.0f} events/s  "
        f"= {kept_rate / raw_rate:.2f}x baseline   (how they fall on the workers varies run to run)"
    )
    print(
        f"  POST /v1/events at 500 req/s   : {at500[0]:8,.0f} req/s  p50 {at500[1]:6.1f} ms  "
        f"p99 {at500[2]:6.1f} ms   [required p99 <= 50 ms: {'OK' if at500[2] <= 50 else 'NOT MET'}]"
    )
    print(
        f"  POST /v1/events saturated (32) : {saturated[0]:8,.0f} req/s  p50 {saturated[1]:6.1f} ms  "
        f"p99 {saturated[2]:6.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
