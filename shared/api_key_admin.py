"""Creating, listing and revoking API keys: one set of functions for the admin API and the CLI.

A key is shown once, when created; afterwards it is named by its id, the first 16 hex digits
of its SHA-256 digest (what is stored), which reveals nothing usable about the key.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.auth import Scope, api_keys, hash_key, register_key

KEY_ID_CHARS = 16


@dataclass(frozen=True)
class KeyInfo:
    id: str
    name: str
    scopes: list[str]
    created_at: datetime | None
    revoked_at: datetime | None


def _info(row: sa.Row) -> KeyInfo:  # type: ignore[type-arg]
    return KeyInfo(
        id=row.key_hash[:KEY_ID_CHARS],
        name=row.name,
        scopes=list(row.scopes),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def new_key() -> str:
    return f"clm_{secrets.token_urlsafe(32)}"


def valid_scopes(scopes: list[str]) -> list[str]:
    known = {s.value for s in Scope}
    unknown = [s for s in scopes if s not in known]
    if unknown:
        raise ValueError(
            f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    if not scopes:
        raise ValueError("give at least one scope")
    return sorted(set(scopes))


async def create_key(
    engine: AsyncEngine, name: str, scopes: list[str], key: str | None = None
) -> tuple[str, KeyInfo]:
    """The new key (shown to the caller once) and what is stored about it."""
    key = key or new_key()
    await register_key(engine, key, name, valid_scopes(scopes))
    async with engine.connect() as conn:
        row = (
            await conn.execute(sa.select(api_keys).where(api_keys.c.key_hash == hash_key(key)))
        ).one()
    return key, _info(row)


async def list_keys(engine: AsyncEngine) -> list[KeyInfo]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at))
        return [_info(row) for row in rows]


async def revoke_key(engine: AsyncEngine, key_id: str) -> KeyInfo | None:
    """Revokes the key whose id is `key_id` (repeating it is harmless); None if no such key."""
    if len(key_id) != KEY_ID_CHARS or any(c not in "0123456789abcdef" for c in key_id):
        return None
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(api_keys)
            .where(api_keys.c.key_hash.startswith(key_id), api_keys.c.revoked_at.is_(None))
            .values(revoked_at=sa.func.now())
        )
        row = (
            await conn.execute(sa.select(api_keys).where(api_keys.c.key_hash.startswith(key_id)))
        ).first()
    return _info(row) if row else None
