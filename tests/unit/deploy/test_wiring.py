"""Deploy files wired for real (issue 18, item 4): docker-compose.yml and the kustomization,
rendered by parsing their YAML, give each service what deploy/wiring.py says it needs: peers by
their in-network names (never 127.0.0.1 across containers), secrets from Secrets; k8s creates
topics and migrates before any pod starts; securityContext, PDBs, startup probes, lag-based
autoscaling, and consumer members x replicas within the partitions."""

import re
from pathlib import Path
from typing import Any

import yaml

from deploy.local.stack import local_wiring
from deploy.wiring import NEEDS, PARTITIONS, needs

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"
LOOPBACK = re.compile(r"(127\.0\.0\.1|localhost|\[::1\])")


def _k8s_objects() -> list[dict[str, Any]]:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    return [d for name in listed for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def _of(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def _k8s_env(
    container: dict[str, Any], objects: list[dict[str, Any]]
) -> dict[str, tuple[str, str]]:
    """Every variable the container gets: name -> (where from: config|secret|literal, value)."""
    maps, secrets = _of(objects, "ConfigMap"), _of(objects, "Secret")
    env: dict[str, tuple[str, str]] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            data = maps[source["configMapRef"]["name"]]["data"]
            env.update({k: ("config", str(v)) for k, v in data.items()})
        if "secretRef" in source:
            data = secrets[source["secretRef"]["name"]]["stringData"]
            env.update({k: ("secret", str(v)) for k, v in data.items()})
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = ("literal", str(item["value"]))
        elif "secretKeyRef" in item.get("valueFrom", {}):
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = ("secret", str(secrets[ref["name"]]["stringData"][ref["key"]]))
    return env


def test_kubernetes_gives_each_service_what_it_needs() -> None:
    objects = _k8s_objects()
    deployments = _of(objects, "Deployment")
    for service in NEEDS:
        container = deployments[f"clm-{service}"]["spec"]["template"]["spec"]["containers"][0]
        env = _k8s_env(container, objects)
        for name, kind in needs(service).items():
            assert name in env, f"{service} lacks {name}"
            source, value = env[name]
            if kind == "secret":
                assert source == "secret", f"{service}: {name} must come from a Secret"
            else:
                assert source != "secret", f"{service}: {name} is not a secret"
            if kind == "peer":
                assert not LOOPBACK.search(value), f"{service}: {name}={value} is loopback"


def test_kubernetes_pods_are_hardened_disrupted_gently_and_started_after_migrations() -> None:
    objects = _k8s_objects()
    budgets = {o["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
               for o in objects if o["kind"] == "PodDisruptionBudget"}  # fmt: skip
    for name, deployment in _of(objects, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"] + pod.get("initContainers", []):
            hardened = container["securityContext"]
            assert hardened["allowPrivilegeEscalation"] is False
            assert hardened["readOnlyRootFilesystem"] is True
            assert hardened["capabilities"]["drop"] == ["ALL"]
        assert "startupProbe" in pod["containers"][0]
        assert name in budgets, f"{name} has no PodDisruptionBudget"
        # No pod starts on an old schema, whatever order things are applied in.
        [init] = pod["initContainers"]
        assert init["command"][:3] == ["python", "-m", "deploy.schema_ready"]
    jobs = _of(objects, "Job")
    commands = [j["spec"]["template"]["spec"]["containers"][0]["command"] for j in jobs.values()]
    assert ["alembic", "upgrade", "head"] in commands
    assert any(c[:3] == ["python", "-m", "shared.kafka_admin"] for c in commands), "no topics Job"
    image = next(iter(_of(objects, "Deployment").values()))["spec"]["template"]["spec"][
        "containers"
    ][0]["image"]
    version = image.rsplit(":", 1)[1].replace(".", "-")
    assert all(name.endswith(version) for name in jobs), "Job names carry the release"


def test_consumers_scale_on_lag_within_the_partitions() -> None:
    objects = _k8s_objects()
    deployments = _of(objects, "Deployment")
    scaled = _of(objects, "ScaledObject")
    for service in ("lifecycle", "scoring", "notify"):
        spec = scaled[f"clm-{service}"]["spec"]
        assert any(t["type"] == "kafka" for t in spec["triggers"])
        container = deployments[f"clm-{service}"]["spec"]["template"]["spec"]["containers"][0]
        env = _k8s_env(container, objects)
        members = int(env.get(f"CLM_{service.upper()}_CONSUMER_MEMBERS", ("", "1"))[1])
        assert members * spec["maxReplicaCount"] <= PARTITIONS, service
    hpas = {
        o["spec"]["scaleTargetRef"]["name"]
        for o in objects
        if o["kind"] == "HorizontalPodAutoscaler"
    }
    assert not hpas & {f"clm-{s}" for s in ("lifecycle", "scoring", "notify")}, "two autoscalers"


def test_compose_gives_each_service_what_it_needs() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for service in NEEDS:
        env = {k: str(v) for k, v in services[service]["environment"].items()}
        for name, kind in needs(service).items():
            assert name in env, f"compose {service} lacks {name}"
            if kind == "peer":
                assert not LOOPBACK.search(env[name]), f"compose {service}: {name}={env[name]}"
    notify = services["notify"]["environment"]
    assert notify["CLM_NOTIFY_SMTP_HOST"] == "sink" and "sink" in services  # a first run delivers
    dashboard, lifecycle = services["dashboard"], services["lifecycle"]
    assert dashboard["environment"]["CLM_DASHBOARD_LIFECYCLE_URL"] == "http://lifecycle:8002"
    assert dashboard["environment"]["CLM_DASHBOARD_SCORING_URL"] == "http://scoring:8003"
    # What a browser on the host opens (lifecycle's old dashboard paths redirect there).
    assert lifecycle["environment"]["CLM_LIFECYCLE_DASHBOARD_URL"] == "http://localhost:8006"
    assert dashboard["ports"] == ["8006:8006"]


def test_the_local_stack_wires_every_peer_it_runs() -> None:
    wired = local_wiring()
    for service in NEEDS:
        for name, kind in NEEDS[service].items():
            if kind == "peer":
                assert name in wired, f"the local stack does not set {name}"
