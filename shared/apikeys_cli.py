"""Register an API key: python -m shared.apikeys_cli register --name N (--scope S ... | --all-scopes).

`clm keys create|list|revoke` does the same and more; this module stays for images without the
CLI (docker compose). A missing DATABASE_URL or an unreachable database is one sentence on
stderr and exit status 2, never a traceback.
"""

import argparse
import asyncio
import os
import sys

from shared.api_key_admin import create_key, new_key
from shared.auth import Scope
from shared.database_outage import is_database_outage
from shared.db import make_engine


async def _register(database_url: str, key: str, name: str, scopes: list[str]) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        await create_key(engine, name, scopes, key)
    finally:
        await engine.dispose()


def _fail(sentence: str) -> None:
    print(f"error: {sentence}", file=sys.stderr)
    raise SystemExit(2)


def main() -> None:
    parser = argparse.ArgumentParser(prog="apikeys")
    sub = parser.add_subparsers(dest="command", required=True)
    reg = sub.add_parser("register")
    reg.add_argument("--name", required=True)
    reg.add_argument("--key", help="the key to store; a new random one when omitted")
    reg.add_argument("--scope", action="append", choices=[s.value for s in Scope], default=[])
    reg.add_argument("--all-scopes", action="store_true")
    args = parser.parse_args()
    scopes = [s.value for s in Scope] if args.all_scopes else args.scope
    if not scopes:
        parser.error("give --scope at least once, or --all-scopes")
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        _fail(
            "DATABASE_URL is not set; export it, e.g. "
            "DATABASE_URL=postgresql+asyncpg://clm:clm@127.0.0.1:55432/clm"
        )
        return
    key = args.key or new_key()
    try:
        asyncio.run(_register(database_url, key, args.name, scopes))
    except Exception as exc:
        if not is_database_outage(exc):
            raise
        _fail(f"PostgreSQL at DATABASE_URL cannot be reached ({exc}).")
    print(key)


if __name__ == "__main__":
    main()
