"""Posts events through the real ingest API in batches, retrying 503 as Retry-After says."""

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from clm_cli.errors import CliError
from clm_cli.service_calls import client, problem_detail, refused, unreachable
from clm_cli.settings import CliSettings

MAX_ATTEMPTS = 8
MAX_RETRY_AFTER_SECONDS = 30.0


async def post_batches(
    settings: CliSettings,
    events: Sequence[dict[str, Any]],
    batch_size: int,
    *,
    concurrency: int = 4,
    on_posted: Callable[[int], None] = lambda n: None,
) -> int:
    """POSTs every event to /v1/events/batch; returns how many ingest had already seen."""
    batches = [events[i : i + batch_size] for i in range(0, len(events), batch_size)]
    queue: asyncio.Queue[tuple[int, Sequence[dict[str, Any]]]] = asyncio.Queue()
    for item in enumerate(batches):
        queue.put_nowait(item)
    duplicates = 0

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal duplicates
        while not queue.empty():
            index, batch = queue.get_nowait()
            duplicates += await _post_one(settings, http, index, batch)
            on_posted(len(batch))

    async with client(settings, "ingest", timeout=60.0) as http:
        workers = [asyncio.create_task(worker(http)) for _ in range(max(1, concurrency))]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
    return duplicates


async def _post_one(
    settings: CliSettings, http: httpx.AsyncClient, index: int, batch: Sequence[dict[str, Any]]
) -> int:
    for _attempt in range(MAX_ATTEMPTS):
        try:
            resp = await http.post("/v1/events/batch", json={"events": list(batch)})
        except httpx.TransportError as exc:
            raise unreachable("ingest", settings, exc) from exc
        if resp.status_code == 202:
            return len(resp.json().get("duplicates", []))
        if resp.status_code == 503:
            await asyncio.sleep(_retry_after(resp))
            continue
        if resp.status_code == 422:
            raise CliError(
                f"Ingest rejected batch {index + 1} as invalid: {problem_detail(resp).rstrip('.')}."
            )
        raise refused("ingest", resp)
    raise CliError(
        f"Ingest kept answering 503 (event log unavailable) for batch {index + 1} after "
        f"{MAX_ATTEMPTS} attempts; check Kafka with `clm status`."
    )


def _retry_after(resp: httpx.Response) -> float:
    try:
        seconds = float(resp.headers.get("retry-after", "1"))
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 0.1), MAX_RETRY_AFTER_SECONDS)
