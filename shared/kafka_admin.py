"""Topic creation against the broker: idempotent, safe to run at every start."""

import asyncio
import time

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from shared.topics import TopicSpec, platform_topics


async def wait_for_broker(bootstrap_servers: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except (KafkaConnectionError, KafkaError, OSError) as exc:
            last_error = exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
    raise TimeoutError(f"Kafka at {bootstrap_servers} not reachable: {last_error!r}")


async def ensure_topics(
    bootstrap_servers: str,
    partitions: int,
    topics: list[TopicSpec] | None = None,
    replication_factor: int = 1,
) -> list[str]:
    """Create missing topics; returns the names it created."""
    wanted = topics if topics is not None else platform_topics()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        if not missing:
            return []
        new = [
            NewTopic(t.name, partitions, replication_factor, topic_configs=t.config)
            for t in missing
        ]
        try:
            await admin.create_topics(new)
        except TopicAlreadyExistsError:
            pass  # another starter won the race; the topics exist, which is all we need
        return [t.name for t in missing]
    finally:
        await admin.close()


async def delete_topics(bootstrap_servers: str, names: list[str]) -> None:
    """Deletes the named topics that exist (scratch topics of benchmarks and replays)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=30000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [name for name in names if name in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


def main() -> None:
    """`python -m shared.kafka_admin --partitions 12 --replication-factor 3`: what the
    Kubernetes topics Job and the compose `topics` service run (KAFKA_BOOTSTRAP_SERVERS)."""
    import argparse
    import os

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--replication-factor", type=int, default=1)
    parser.add_argument("--wait-seconds", type=float, default=120.0)
    args = parser.parse_args()
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    asyncio.run(wait_for_broker(bootstrap, args.wait_seconds))
    created = asyncio.run(ensure_topics(bootstrap, args.partitions, None, args.replication_factor))
    print(f"created topics: {', '.join(created) or 'none (all exist)'}", flush=True)


if __name__ == "__main__":
    main()
