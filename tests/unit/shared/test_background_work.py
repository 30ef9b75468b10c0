"""A service's background work stops in one order: runners asked, loops told, all awaited,
then what the work used is closed (shared/service_runtime.py)."""

import asyncio

from shared.service_runtime import BackgroundWork


class _Runner:
    def __init__(self, name: str, events: list[str]) -> None:
        self.name, self.events = name, events
        self._stop = asyncio.Event()

    async def run(self) -> None:
        await self._stop.wait()
        self.events.append(f"{self.name} ended")

    def stop(self) -> None:
        self.events.append(f"{self.name} asked to stop")
        self._stop.set()


async def test_stop_ends_runners_and_loops_before_closing_what_they_used() -> None:
    events: list[str] = []
    work = BackgroundWork()
    ticks = 0

    async def tick() -> bool:
        nonlocal ticks
        ticks += 1
        return False

    async def close() -> None:
        events.append("closed")

    async def until_stopping() -> None:
        await work.stopping.wait()
        events.append("task ended")

    work.run("relay", _Runner("relay", events))
    work.every("job", tick, interval=3600)
    work.task("own-loop", until_stopping())
    work.close_at_stop(close)
    await asyncio.sleep(0)  # the tasks start: the job ticks once, then waits its interval
    await asyncio.wait_for(work.stop(), timeout=5)

    assert ticks == 1
    assert events.index("relay asked to stop") < events.index("closed")
    assert events.index("relay ended") < events.index("closed")
    assert events.index("task ended") < events.index("closed")


async def test_a_failing_task_does_not_keep_the_others_from_stopping() -> None:
    events: list[str] = []
    work = BackgroundWork()

    async def fails() -> None:
        raise RuntimeError("broken")

    async def close() -> None:
        events.append("closed")

    work.task("broken", fails())
    work.run("relay", _Runner("relay", events))
    work.close_at_stop(close)
    await asyncio.wait_for(work.stop(), timeout=5)

    assert events == ["relay asked to stop", "relay ended", "closed"]
