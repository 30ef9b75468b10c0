"""Wait for a condition with a deadline instead of sleeping."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "",
) -> T:
    """Returns the first truthy result of `probe`, or fails with the last result seen."""
    last: Any = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}; last: {last!r}")
