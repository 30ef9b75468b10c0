"""The one loop behind every periodic job (lifecycle's scheduler, notify's sender and calendar,
scoring's refit): run a tick, wait when it found no more work, survive a failing tick."""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from shared.logging import get_logger

log = get_logger(__name__)

# A tick returns True when it filled its batch (more work is waiting: run again at once).
Tick = Callable[[], Awaitable[bool]]


async def run_periodically(
    name: str, tick: Tick, interval: float, stop: asyncio.Event, *, wait_first: bool = False
) -> None:
    """Runs `tick` until `stop` is set, pausing `interval` seconds (or until stop) after a tick
    that left no work waiting, or that failed: the database may be restarting, and the next
    tick tries again. `wait_first` pauses before the first tick too (a job due once a day)."""
    if wait_first and await _paused(stop, interval):
        return
    while not stop.is_set():
        try:
            more = await tick()
        except Exception as exc:
            log.exception(f"{name}_failed", error=repr(exc))
            more = False
        if not more and await _paused(stop, interval):
            return


async def _paused(stop: asyncio.Event, seconds: float) -> bool:
    """Waits up to `seconds`; True when stop was set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
