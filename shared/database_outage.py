"""Tells "PostgreSQL cannot be reached now" from every other database error.

An outage is answered 503 + Retry-After (the client should retry); any other error stays a
500, because retrying would not help.
"""

import asyncpg
import sqlalchemy.exc

from shared.problems import Problem

RETRY_AFTER_SECONDS = 5

_OUTAGE_TYPES: tuple[type[BaseException], ...] = (
    OSError,  # connection refused or reset: the server is down or restarting
    TimeoutError,
    sqlalchemy.exc.TimeoutError,  # no pooled connection within pool_timeout
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # "connection is closed"
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, cannot connect now
)


def is_database_outage(exc: BaseException) -> bool:
    """True when `exc`, or what it wraps, says the database is unreachable."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _OUTAGE_TYPES):
            return True
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return False


def database_unavailable() -> Problem:
    return Problem(
        503,
        "Database unavailable",
        "PostgreSQL cannot be reached right now; nothing was changed. Retry later.",
        slug="database-unavailable",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
