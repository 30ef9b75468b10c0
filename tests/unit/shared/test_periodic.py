"""shared.periodic: the loop of every periodic job (pure asyncio, no I/O)."""

import asyncio
import itertools
import time

from shared.periodic import run_periodically


async def test_a_full_batch_runs_again_at_once_and_an_idle_tick_waits_the_interval() -> None:
    stop = asyncio.Event()
    results = iter([True, True, False, True])
    calls: list[float] = []

    async def tick() -> bool:
        calls.append(time.monotonic())
        result = next(results, False)
        if len(calls) == 4:
            stop.set()
        return result

    await asyncio.wait_for(run_periodically("job", tick, 0.3, stop), 5)
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert len(calls) == 4
    assert gaps[0] < 0.1 and gaps[1] < 0.1  # the batches were full: no pause
    assert gaps[2] >= 0.29  # the third found nothing more: the interval passed


async def test_a_failing_tick_does_not_end_the_loop() -> None:
    stop = asyncio.Event()
    calls = 0

    async def tick() -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("the database is restarting")
        stop.set()
        return False

    await asyncio.wait_for(run_periodically("job", tick, 0.01, stop), 5)
    assert calls == 2


async def test_stop_ends_the_pause_at_once_and_wait_first_delays_the_first_tick() -> None:
    stop = asyncio.Event()
    ticks = 0

    async def tick() -> bool:
        nonlocal ticks
        ticks += 1
        return False

    task = asyncio.create_task(run_periodically("job", tick, 3600, stop, wait_first=True))
    await asyncio.sleep(0)  # lets the loop enter its first pause
    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, 5)
    assert ticks == 0 and time.monotonic() - started < 1
