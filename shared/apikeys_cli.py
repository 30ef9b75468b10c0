"""Register an API key: python -m shared.apikeys_cli register --name N (--scope S ... | --all-scopes)."""

import argparse
import asyncio
import os
import secrets

from shared.auth import Scope, register_key
from shared.db import make_engine


async def _register(key: str, name: str, scopes: list[str]) -> None:
    engine = make_engine(os.environ["DATABASE_URL"], pool_size=1)
    try:
        await register_key(engine, key, name, scopes)
    finally:
        await engine.dispose()


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
    key = args.key or f"clm_{secrets.token_urlsafe(32)}"
    asyncio.run(_register(key, args.name, scopes))
    print(key)


if __name__ == "__main__":
    main()
