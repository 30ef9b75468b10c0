"""Deterministic identities: one message per (playbook, customer, trigger occurrence, step,
repeat)."""

import base64
import hashlib
import hmac
import uuid

_NAMESPACE = uuid.UUID("6f1d3c52-9a0e-4d8e-8c1b-0b7a4e2f5d10")


def message_key(
    playbook: str, customer_id: str, occurrence_id: str, step: str, repeat: int = 0
) -> str:
    parts = (playbook, customer_id, occurrence_id, step)
    return "\x1f".join(parts + ((str(repeat),) if repeat else ()))  # repeat 0 keeps its old id


def message_id(
    playbook: str, customer_id: str, occurrence_id: str, step: str, repeat: int = 0
) -> str:
    key = message_key(playbook, customer_id, occurrence_id, step, repeat)
    return str(uuid.uuid5(_NAMESPACE, key))


def coupon_code(secret: str, playbook: str, customer_id: str, occurrence_id: str) -> str:
    """Unique per customer and occurrence, unguessable without the secret, stable on replay."""
    key = "\x1f".join((playbook, customer_id, occurrence_id)).encode()
    digest = hmac.new(secret.encode(), key, hashlib.sha256).digest()
    return "WB-" + base64.b32encode(digest[:10]).decode().rstrip("=")


def decision_event_id(message: str, status: str, sequence: int) -> str:
    return hashlib.sha256(f"{message}\x1f{status}\x1f{sequence}".encode()).hexdigest()[:32]
