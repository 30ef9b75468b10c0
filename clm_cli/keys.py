"""`clm keys`: API keys straight in PostgreSQL (DATABASE_URL), so the first key needs no key."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from clm_cli.errors import CliError
from clm_cli.settings import CliSettings

T = TypeVar("T")


def with_database(settings: CliSettings, work: Callable[..., Awaitable[T]]) -> T:
    """Runs `work(engine)`; an unreachable database is one sentence, exit status 2."""
    from shared.database_outage import is_database_outage
    from shared.db import make_engine

    async def run() -> T:
        engine = make_engine(settings.database_url, pool_size=1)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except Exception as exc:
        if not is_database_outage(exc):
            raise
        raise CliError(
            f"PostgreSQL cannot be reached at DATABASE_URL ({settings.database_url}): {exc}. "
            "Start the stack (`clm up`) or export DATABASE_URL.",
            exit_code=2,
        ) from None
