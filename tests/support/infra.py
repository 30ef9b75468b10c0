"""Where the tests find Kafka and PostgreSQL: explicit env first, then Docker, then the local stack."""

import asyncio
import os
import shutil
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Infrastructure:
    kafka_bootstrap: str
    database_url: str
    origin: str


def _docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    return probe.returncode == 0


def _kafka_container() -> str:
    """apache/kafka (the version the launcher and compose pin) as one KRaft node.

    testcontainers' KafkaContainer drives Confluent images (its KRaft mode refuses tags below
    7.0.0 and its start script needs /etc/confluent), so the container is configured here: the
    host port is mapped to the same port inside, so the advertised address works from the host.
    """
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.docker_client import DockerClient

    from deploy.local.stack import KAFKA_VERSION
    from shared.kafka_admin import wait_for_broker
    from tests.support.services import free_port

    host, port = DockerClient().host(), free_port()
    kafka = (
        DockerContainer(f"apache/kafka:{KAFKA_VERSION}")
        .with_bind_ports(port, port)
        .with_envs(
            KAFKA_NODE_ID="1",
            KAFKA_PROCESS_ROLES="broker,controller",
            KAFKA_LISTENERS=f"PLAINTEXT://:{port},CONTROLLER://:9093",
            KAFKA_ADVERTISED_LISTENERS=f"PLAINTEXT://{host}:{port}",
            KAFKA_CONTROLLER_LISTENER_NAMES="CONTROLLER",
            KAFKA_LISTENER_SECURITY_PROTOCOL_MAP="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            KAFKA_CONTROLLER_QUORUM_VOTERS="1@localhost:9093",
            KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR="1",
            KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR="1",
            KAFKA_TRANSACTION_STATE_LOG_MIN_ISR="1",
            KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS="0",
            KAFKA_AUTO_CREATE_TOPICS_ENABLE="false",
        )
    )
    kafka.start()
    bootstrap = f"{host}:{port}"
    asyncio.run(wait_for_broker(bootstrap, 120))
    return bootstrap


def _postgres_container() -> str:
    from testcontainers.postgres import PostgresContainer

    pg = PostgresContainer("postgres:16", driver="asyncpg")
    pg.start()
    return str(pg.get_connection_url())


def resolve() -> Infrastructure:
    """Each of the two, independently: its env variable, else a container, else the local stack."""
    explicit_kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    explicit_db = os.environ.get("DATABASE_URL")
    if explicit_kafka and explicit_db:
        return Infrastructure(explicit_kafka, explicit_db, "environment")
    if _docker_available():
        bootstrap = explicit_kafka or _kafka_container()
        return Infrastructure(bootstrap, explicit_db or _postgres_container(), "testcontainers")
    from deploy.local import stack

    bootstrap = explicit_kafka or stack.ensure_kafka()
    database_url = explicit_db or stack.ensure_postgres()
    return Infrastructure(bootstrap, database_url, "local")
