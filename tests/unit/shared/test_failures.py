"""Which failures a consumer retries (transient: never dead-lettered) and which mean the record
itself cannot be processed (deterministic: dead-lettered)."""

import asyncpg
import orjson
import pytest
import sqlalchemy.exc
from aiokafka.errors import KafkaConnectionError, RequestTimedOutError

from shared.failures import describe, is_transient
from shared.kafka_producer import PublishError


def wrapped(orig: Exception) -> sqlalchemy.exc.DBAPIError:
    """What SQLAlchemy raises around a driver error."""
    return sqlalchemy.exc.DBAPIError("INSERT ...", {}, orig)


def _recursion() -> Exception:
    value: dict[str, object] = {}
    for _ in range(300):
        value = {"n": value}
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        return exc
    raise AssertionError("orjson accepted 300 levels")


@pytest.mark.parametrize(
    "failure",
    [
        ConnectionRefusedError("connect call failed"),
        TimeoutError(),
        KafkaConnectionError(),
        RequestTimedOutError(),
        PublishError("broker unavailable"),
        asyncpg.exceptions.SerializationError("could not serialize access"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.exceptions.UndefinedTableError('relation "customers" does not exist'),
        asyncpg.exceptions.InterfaceError("cannot perform operation: connection is closed"),
        wrapped(asyncpg.exceptions.DeadlockDetectedError("deadlock detected")),
        sqlalchemy.exc.TimeoutError("QueuePool limit reached"),
        ExceptionGroup("parts", [ValueError("x"), ConnectionResetError("reset")]),
    ],
    ids=lambda e: type(e).__name__,
)
def test_our_dependencies_failing_is_transient(failure: Exception) -> None:
    assert is_transient(failure)


@pytest.mark.parametrize(
    "failure",
    [
        OverflowError("date value out of range"),
        ValueError("year 0 is out of range"),
        _recursion(),
        asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence: 0x00"),
        asyncpg.exceptions.NumericValueOutOfRangeError("numeric field overflow"),
        asyncpg.exceptions.DatetimeFieldOverflowError("date out of range"),
        asyncpg.exceptions.DataError("invalid input for query argument $1"),
        asyncpg.exceptions.ProgramLimitExceededError("index row size exceeds maximum"),
        wrapped(asyncpg.exceptions.NumericValueOutOfRangeError("numeric field overflow")),
        ExceptionGroup("parts", [OverflowError("date value out of range")]),
        KeyError("currency"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_record_the_code_cannot_process_is_deterministic(failure: Exception) -> None:
    assert not is_transient(failure)


def test_the_description_names_the_type_the_message_and_the_sqlstate() -> None:
    failure = wrapped(asyncpg.exceptions.NumericValueOutOfRangeError("numeric field overflow"))
    assert "(SQLSTATE 22003)" in describe(failure)
    assert describe(ExceptionGroup("g", [OverflowError("date value out of range")])) == (
        "OverflowError: date value out of range"
    )
