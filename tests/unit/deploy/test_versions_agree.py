"""The Kafka version is pinned once in spirit: launcher, Maven pom and compose file must agree."""

import re
from pathlib import Path

import yaml

from deploy.local.stack import KAFKA_VERSION, SERVICES

ROOT = Path(__file__).resolve().parents[3]


def test_compose_pom_and_launcher_pin_the_same_kafka() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    pom = (ROOT / "deploy/local/kafka/pom.xml").read_text()
    assert compose["services"]["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert re.search(rf"<kafka.version>{re.escape(KAFKA_VERSION)}</kafka.version>", pom)


def test_compose_runs_every_service_on_its_contract_port_after_migrations() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert compose["postgres"]["image"] == "postgres:16"
    for svc in SERVICES:
        spec = compose[svc.name]
        assert f"{svc.port}:{svc.port}" in spec["ports"]
        assert spec["command"][1] == svc.app
        assert spec["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "healthcheck" in spec


def test_compose_keeps_the_kafka_log_in_its_volume() -> None:
    """apache/kafka writes to /tmp unless told otherwise: the volume would stay empty."""
    kafka = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["kafka"]
    log_dir = kafka["environment"]["KAFKA_LOG_DIRS"]
    assert any(v.split(":")[1] == log_dir for v in kafka["volumes"])
    assert kafka["environment"]["CLUSTER_ID"]
