"""Exponential backoff with jitter for transient delivery failures."""

import random
from datetime import timedelta


def retry_delay(
    attempt: int, base_seconds: float, max_seconds: float, rng: random.Random | None = None
) -> timedelta:
    """Attempt 1 waits about base, then doubling up to max; half fixed, half random ("equal
    jitter"), so retries spread out without ever retrying at once."""
    ceiling = min(max_seconds, base_seconds * 2 ** max(attempt - 1, 0))
    jitter = (rng or random).uniform(0, ceiling / 2)
    return timedelta(seconds=ceiling / 2 + jitter)
