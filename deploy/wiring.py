"""What each service needs from its environment, in every deployment: the one list that the
local stack (deploy/local/stack.py), docker-compose.yml and the Kubernetes manifests are checked
against (tests/unit/deploy/test_wiring.py).

`config`: plain settings; `secret`: must come from a Secret (k8s) and never be a default;
`peer`: the URL or host of another container (never 127.0.0.1/localhost across containers).
"""

from typing import Literal

Kind = Literal["config", "secret", "peer"]

COMMON: dict[str, Kind] = {
    "KAFKA_BOOTSTRAP_SERVERS": "peer",
    "DATABASE_URL": "secret",
    "CLM_ENVIRONMENT": "config",
    "CLM_ERASURE_SECRET": "secret",
}

NEEDS: dict[str, dict[str, Kind]] = {
    "ingest": {},
    "lifecycle": {
        # Where its old dashboard paths redirect: what users' browsers open, not a peer.
        "CLM_LIFECYCLE_DASHBOARD_URL": "config",
    },
    "scoring": {"CLM_SCORING_CONSUMER_MEMBERS": "config"},
    # Its own service (services/dashboard/app.py): reads lifecycle, scoring and notify with the
    # caller's key.
    "dashboard": {
        "CLM_DASHBOARD_LIFECYCLE_URL": "peer",
        "CLM_DASHBOARD_SCORING_URL": "peer",
        "CLM_DASHBOARD_NOTIFY_URL": "peer",
    },
    "audiences": {},
    "notify": {
        "CLM_NOTIFY_SMTP_HOST": "peer",
        "CLM_NOTIFY_SMTP_PORT": "config",
        "CLM_NOTIFY_SMS_BASE_URL": "peer",
        "CLM_NOTIFY_WEBHOOK_URL": "peer",
        # What customers open (unsubscribe links): a public address, not a peer container.
        "CLM_NOTIFY_PUBLIC_URL": "config",
        "CLM_NOTIFY_WEBHOOK_SECRET": "secret",
        "CLM_NOTIFY_COUPON_SECRET": "secret",
        "CLM_NOTIFY_UNSUBSCRIBE_SECRET": "secret",
    },
}

# Partitions of every platform topic: consumer members x replicas never exceed it.
PARTITIONS = 12


def needs(service: str) -> dict[str, Kind]:
    return {**COMMON, **NEEDS[service]}
