"""Webhook signatures, Stripe style: HMAC-SHA256 over "<timestamp>.<body>" in one header.

Header: `CLM-Signature: t=<unix seconds>,v1=<hex digest>`. Receivers recompute the digest with
the shared secret, compare in constant time, and reject timestamps outside the tolerance
(replays); several v1 values may appear while a secret is being rotated.
"""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "CLM-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The request is not signed by someone holding the secret, or is too old (a replay)."""


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    moment = int(time.time()) if timestamp is None else timestamp
    return f"t={moment},v1={_digest(secret, moment, body)}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Returns the signed timestamp, or raises SignatureError."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError("signature header needs t=<timestamp> and v1=<digest>")
    expected = _digest(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("signature does not match the body")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise SignatureError("timestamp outside the tolerance; possible replay")
    return timestamp
