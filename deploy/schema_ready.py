"""`python -m deploy.schema_ready`: waits until the database schema is at this image's Alembic
head (the Kubernetes init container of every Deployment), so that no pod starts on an old
schema while the release's migration Job is still running. Exits 1 after --timeout."""

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import asyncpg
from alembic.config import Config
from alembic.script import ScriptDirectory


def expected_heads() -> set[str]:
    """The heads of the migrations shipped beside alembic.ini (the image's working
    directory, or a checkout), as `alembic upgrade head` there would leave them."""
    ini = Path(os.environ.get("CLM_ALEMBIC_INI", "alembic.ini")).resolve()
    config = Config(str(ini))
    config.set_main_option("script_location", str(ini.parent / "migrations"))
    return set(ScriptDirectory.from_config(config).get_heads())


async def current_heads(database_url: str) -> set[str]:
    conn = await asyncpg.connect(
        database_url.replace("postgresql+asyncpg", "postgresql"), timeout=5
    )
    try:
        rows = await conn.fetch("SELECT version_num FROM alembic_version")
    except asyncpg.UndefinedTableError:
        return set()
    finally:
        await conn.close()
    return {row[0] for row in rows}


async def wait(database_url: str, timeout: float) -> bool:
    wanted, seen = expected_heads(), set[str]()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            seen = await current_heads(database_url)
        except (OSError, asyncpg.PostgresError) as exc:
            print(f"schema_ready: database not reachable yet ({type(exc).__name__})", flush=True)
        if seen == wanted:
            print(f"schema_ready: schema at {sorted(wanted)}", flush=True)
            return True
        await asyncio.sleep(2)
    print(f"schema_ready: schema at {sorted(seen)}, this image needs {sorted(wanted)}", flush=True)
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    sys.exit(0 if asyncio.run(wait(os.environ["DATABASE_URL"], args.timeout)) else 1)


if __name__ == "__main__":
    main()
