"""Databases of their own on the session's PostgreSQL server, migrated to head, for tests whose
assertions cover a whole population (a fit, a rescore) that other tests' customers would join."""

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from tests.support.infra import Infrastructure
from tests.support.polling import eventually

ROOT = Path(__file__).resolve().parents[2]


def create_database(infra: Infrastructure, name: str) -> str:
    """A new, migrated database; returns its SQLAlchemy URL."""
    admin = infra.database_url.replace("+asyncpg", "")

    async def create() -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    url = infra.database_url.rsplit("/", 1)[0] + f"/{name}"
    subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), "upgrade", "head"],
        check=True, env={**os.environ, "DATABASE_URL": url}, cwd=ROOT, capture_output=True,
    )  # fmt: skip
    return url


def drop_database(infra: Infrastructure, name: str) -> None:
    """Plain DROP, retried while the stopped services' sessions close: WITH (FORCE) refuses a
    non-superuser when an autovacuum worker happens to be in the database, plain DROP stops it."""

    async def drop() -> None:
        conn = await asyncpg.connect(infra.database_url.replace("+asyncpg", ""))

        async def dropped() -> bool:
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            except asyncpg.ObjectInUseError:
                return False
            return True

        try:
            await eventually(dropped, timeout=60, interval=0.5, what=f"database {name} dropped")
        finally:
            await conn.close()

    asyncio.run(drop())


@contextmanager
def own_database(infra: Infrastructure, prefix: str) -> Iterator[str]:
    """A new, migrated database named after `prefix` for the block; dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = create_database(infra, name)
    try:
        yield url
    finally:
        drop_database(infra, name)
