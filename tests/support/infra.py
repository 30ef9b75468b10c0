"""Where the tests find Kafka and PostgreSQL: explicit env first, then Docker, then the local stack."""

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


def _from_testcontainers() -> Infrastructure:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    kafka = KafkaContainer("apache/kafka:4.1.1").with_kraft()
    kafka.start()
    pg = PostgresContainer("postgres:16", driver="asyncpg")
    pg.start()
    return Infrastructure(kafka.get_bootstrap_server(), pg.get_connection_url(), "testcontainers")


def resolve() -> Infrastructure:
    explicit_kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    explicit_db = os.environ.get("DATABASE_URL")
    if explicit_kafka and explicit_db:
        return Infrastructure(explicit_kafka, explicit_db, "environment")
    if _docker_available():
        return _from_testcontainers()
    from deploy.local import stack

    bootstrap = explicit_kafka or stack.ensure_kafka()
    database_url = explicit_db or stack.ensure_postgres()
    return Infrastructure(bootstrap, database_url, "local")
