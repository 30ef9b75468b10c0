"""API keys with scopes: stored as SHA-256 digests, compared in constant time, cached briefly."""

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Annotated

import sqlalchemy as sa
from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import metadata
from shared.problems import Problem


class Scope(StrEnum):
    EVENTS_WRITE = "events:write"
    CUSTOMERS_READ = "customers:read"
    SCORES_READ = "scores:read"
    MODELS_WRITE = "models:write"
    NOTIFY_READ = "notify:read"
    NOTIFY_WRITE = "notify:write"
    ADMIN = "admin"


api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_hash", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("scopes", ARRAY(sa.String(32)), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)


def hash_key(key: str) -> str:
    # Keys are long random tokens, so a fast unsalted digest is safe and lets us look them up.
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    def __init__(self, engine: AsyncEngine, cache_seconds: float = 30.0) -> None:
        self._engine = engine
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, frozenset[str] | None]] = {}

    async def scopes_for(self, key: str) -> frozenset[str] | None:
        digest = hash_key(key)
        cached = self._cache.get(digest)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(api_keys.c.key_hash, api_keys.c.scopes).where(
                        api_keys.c.key_hash == digest, api_keys.c.revoked_at.is_(None)
                    )
                )
            ).first()
        scopes = (
            frozenset(row.scopes) if row and hmac.compare_digest(row.key_hash, digest) else None
        )
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (time.monotonic() + self._cache_seconds, scopes)
        return scopes


async def register_key(engine: AsyncEngine, key: str, name: str, scopes: list[str]) -> None:
    from sqlalchemy.dialects.postgresql import insert

    stmt = insert(api_keys).values(key_hash=hash_key(key), name=name, scopes=scopes)
    stmt = stmt.on_conflict_do_update(
        index_elements=[api_keys.c.key_hash], set_={"scopes": scopes, "name": name}
    )
    async with engine.begin() as conn:
        await conn.execute(stmt)


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


# Declares the scheme (and each route's scope) in the OpenAPI document; `check` below still
# reads the header itself so that every failure is a problem with its own detail.
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    description="An API key: `Authorization: Bearer <key>`. Keys carry scopes (events:write, "
    "customers:read, scores:read, models:write, notify:read, notify:write, admin); each "
    "operation names the one it needs (admin grants every scope).",
)
BearerCredentials = HTTPAuthorizationCredentials | None


def require(scope: Scope) -> Callable[..., Awaitable[frozenset[str]]]:
    async def check(
        request: Request,
        declared: Annotated[BearerCredentials, Security(bearer, scopes=[scope.value])],
    ) -> frozenset[str]:
        header = request.headers.get("authorization", "")
        kind, _, key = header.partition(" ")
        if kind.lower() != "bearer" or not key.strip():
            raise _unauthorized("Send an API key as 'Authorization: Bearer <key>'.")
        store: KeyStore = request.app.state.key_store
        scopes = await store.scopes_for(key.strip())
        if scopes is None:
            raise _unauthorized("The API key is unknown or revoked.")
        if scope not in scopes and Scope.ADMIN not in scopes:
            raise Problem(403, "Forbidden", f"The API key lacks the scope '{scope}'.")
        return scopes

    return check
