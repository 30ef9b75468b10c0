"""Kubernetes manifests and the Grafana dashboard stay in step with the code."""

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import services.notify.service_layer.metrics  # noqa: F401 - registers notify's decisions
import shared.metrics  # noqa: F401 - registers the platform's metrics
from deploy.local.stack import SERVICES

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"


def _docs(name: str) -> list[dict]:  # type: ignore[type-arg]
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def test_every_service_has_a_probed_resourced_autoscaled_deployment() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    for svc in SERVICES:
        assert f"{svc.name}.yaml" in listed
        by_kind = {d["kind"]: d for d in _docs(f"{svc.name}.yaml")}
        container = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]
        # Started once Kafka and the database answer; ready while the process serves HTTP, so a
        # broker outage gives clients the app's 503 + Retry-After, not refused connections.
        assert container["startupProbe"]["httpGet"]["path"] == "/readyz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["ports"][0]["containerPort"] == svc.port
        assert f"services.{svc.name}.app:app" in container["command"]
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert {
            e.get("configMapRef", e.get("secretRef"))["name"] for e in container["envFrom"]
        } == {
            "clm-config",
            "clm-secrets",
        }
        if "HorizontalPodAutoscaler" in by_kind:
            hpa = by_kind["HorizontalPodAutoscaler"]["spec"]
            assert hpa["scaleTargetRef"]["name"] == f"clm-{svc.name}"
            assert hpa["maxReplicas"] <= 12  # never more consumers than partitions
        else:  # consumers scale on lag (KEDA), which owns the HPA it creates
            scaled = by_kind["ScaledObject"]["spec"]
            assert scaled["scaleTargetRef"]["name"] == f"clm-{svc.name}"
            assert scaled["maxReplicaCount"] <= 12
            assert scaled["triggers"][0]["type"] == "kafka"


def test_config_names_the_external_kafka_and_database() -> None:
    config, secret = _docs("config.yaml")
    assert "KAFKA_BOOTSTRAP_SERVERS" in config["data"]
    assert "DATABASE_URL" in secret["stringData"]


def test_dashboard_queries_only_metrics_the_services_export() -> None:
    exported = {
        sample.name
        for metric in REGISTRY.collect()
        if metric.name.startswith("clm_")
        for sample in metric.samples
    } | {m.name for m in REGISTRY.collect() if m.name.startswith("clm_")}
    dashboard = json.loads((ROOT / "deploy/observability/grafana-dashboard.json").read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"clm_[a-z_]+", target["expr"])
    }
    assert used
    missing = {
        n
        for n in used
        if n not in exported and re.sub(r"_(bucket|count|sum|total)$", "", n) not in exported
    }
    assert not missing, missing
