"""Transient or deterministic: may a failure pass by itself, or will the same input fail again?

A consumer retries a transient failure (our own dependencies: connection lost, serialization
failure, deadlock, timeouts, broker errors, a database that is restarting or not migrated yet)
with backoff and never dead-letters for it; a deterministic one (the data: a value PostgreSQL
cannot hold, arithmetic out of range, JSON nested too deep...) means the record itself cannot
be processed, so the consumer finds it and dead-letters it.
"""

from collections.abc import Iterator

from aiokafka.errors import KafkaError

from shared.kafka_producer import PublishError

# SQLSTATE classes that say nothing about the record: connection exception (08), transaction
# rollback: serialization failure, deadlock (40), insufficient resources (53), object not in
# prerequisite state: lock not available (55), operator intervention: shutdown, query cancelled
# by statement_timeout (57), system error (58), internal error (XX), and the schema or rights
# not being what the code expects (42, 3D, 3F, 28, 0A): a migration or grant is missing, every
# record would fail alike, so dead-lettering them all would empty the topic into the DLQ.
TRANSIENT_SQLSTATE_CLASSES = frozenset(
    {"08", "40", "53", "55", "57", "58", "XX", "42", "3D", "3F", "28", "0A"}
)
MAX_MESSAGE = 1000  # characters of an error's message kept in the DLQ header and the logs
_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    OSError,  # includes ConnectionError and TimeoutError (asyncio's too)
    KafkaError,
    PublishError,
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what it wraps (SQLAlchemy's `orig`, causes, contexts) and, for a task
    group's ExceptionGroup, every member."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        for inner in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(inner, BaseException):
                todo.append(inner)


def _sqlstate(exc: BaseException) -> str | None:
    state = getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) and len(state) == 5 else None


def _is_transient_one(exc: BaseException) -> bool:
    state = _sqlstate(exc)
    if state is not None:
        return state[:2] in TRANSIENT_SQLSTATE_CLASSES
    if isinstance(exc, _TRANSIENT_TYPES):
        return True
    module = type(exc).__module__
    name = type(exc).__name__
    if module.startswith("asyncpg") and name in ("InterfaceError", "InternalClientError"):
        return True  # "connection is closed", "another operation is in progress"
    if module.startswith("asyncpg") and name == "OutdatedSchemaCacheError":
        return True  # a migration ran under us; the next try re-reads the schema
    if module.startswith("sqlalchemy"):
        if name == "TimeoutError":  # no pooled connection came in time
            return True
        if getattr(exc, "connection_invalidated", False):
            return True
    return False


def is_transient(exc: BaseException) -> bool:
    """True when trying the same input again later may succeed (retry, never dead-letter).

    A SQLSTATE anywhere in the chain decides (the database told what went wrong); otherwise
    any transient member of the chain makes the failure transient.
    """
    chain = list(_chain(exc))
    states = [s for s in (_sqlstate(e) for e in chain) if s is not None]
    if states:
        return any(s[:2] in TRANSIENT_SQLSTATE_CLASSES for s in states)
    return any(_is_transient_one(e) for e in chain)


def describe(exc: BaseException) -> str:
    """One line for the DLQ and the logs: the type, the SQLSTATE when there is one, and the
    message; an ExceptionGroup is described by its first member."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    state = next((s for s in (_sqlstate(e) for e in _chain(exc)) if s is not None), None)
    message = str(exc)
    if len(message) > MAX_MESSAGE:  # SQLAlchemy appends the statement and its parameters
        message = message[:MAX_MESSAGE] + "..."
    text = f"{type(exc).__name__}: {message}"
    return f"{text} (SQLSTATE {state})" if state else text
