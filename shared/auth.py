"""API keys with scopes: stored as SHA-256 digests, compared in constant time, cached.

The cache is kept true by PostgreSQL: every change to `api_keys` notifies the channel
`clm_api_keys` (a trigger, migration 0013) and each KeyStore listening on it drops that key's
entry at once, so a revoked key stops working on every instance within a second. While the
listener is not connected, nothing is trusted from the cache for longer than one look-up, except
when the database cannot be reached: then a key seen before keeps its last known scopes (the
cache does not fail closed), so ingest keeps accepting events while Kafka is up.
"""

import asyncio
import contextlib
import hashlib
import hmac
import inspect
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

import sqlalchemy as sa
from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.database_outage import database_unavailable, is_database_outage
from shared.db import metadata
from shared.pg_listen import ChannelListener
from shared.problems import Problem

KEYS_CHANNEL = "clm_api_keys"
LOOKUP_TIMEOUT_SECONDS = 3.0


class Scope(StrEnum):
    EVENTS_WRITE = "events:write"
    CUSTOMERS_READ = "customers:read"
    SCORES_READ = "scores:read"
    MODELS_WRITE = "models:write"
    NOTIFY_READ = "notify:read"
    NOTIFY_WRITE = "notify:write"
    # Customers' personal data (name, e-mail, phone, profile values): contact details in
    # lookups and timelines, and the right-of-access export. Added beside customers:read,
    # which keeps showing ids, stages and scores only.
    PII_READ = "pii:read"
    # Audiences (services/audiences): read segments and their members; define and delete them.
    SEGMENTS_READ = "segments:read"
    SEGMENTS_WRITE = "segments:write"
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


@dataclass(frozen=True)
class _Entry:
    fresh_until: float
    scopes: frozenset[str] | None


class KeyStore:
    def __init__(self, engine: AsyncEngine, cache_seconds: float = 30.0) -> None:
        self._engine = engine
        self._cache_seconds = cache_seconds
        self._cache: dict[str, _Entry] = {}
        self._listening = False
        self._listener: asyncio.Task[None] | None = None

    @property
    def listening(self) -> bool:
        """True while change notifications arrive, i.e. while cached answers may be reused."""
        return self._listening

    def start(self) -> None:
        if self._listener is None:
            listener = ChannelListener(
                self._engine, KEYS_CHANNEL, self._forget,
                on_listening=self._listening_started, on_lost=self._listening_lost,
                timeout_s=LOOKUP_TIMEOUT_SECONDS, lost_event="api_key_listener_lost",
            )  # fmt: skip
            self._listener = asyncio.create_task(listener.run())

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

    async def scopes_for(self, key: str) -> frozenset[str] | None:
        """The key's scopes, None for an unknown or revoked key; Problem 503 when the database
        is down and the key was never seen."""
        digest = hash_key(key)
        cached = self._cache.get(digest)
        if cached and self._listening and cached.fresh_until > time.monotonic():
            return cached.scopes
        try:
            scopes = await asyncio.wait_for(self._lookup(digest), LOOKUP_TIMEOUT_SECONDS)
        except Exception as exc:
            if not is_database_outage(exc):
                raise
            if cached is not None:
                return cached.scopes  # last known answer: the database cannot say otherwise now
            raise database_unavailable() from exc
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = _Entry(time.monotonic() + self._cache_seconds, scopes)
        return scopes

    async def _lookup(self, digest: str) -> frozenset[str] | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(api_keys.c.key_hash, api_keys.c.scopes).where(
                        api_keys.c.key_hash == digest, api_keys.c.revoked_at.is_(None)
                    )
                )
            ).first()
        if row and hmac.compare_digest(row.key_hash, digest):
            return frozenset(row.scopes)
        return None

    def _forget(self, digest: str) -> None:
        self._cache.pop(digest, None)

    def _mark_all_stale(self) -> None:
        # Keep the scopes (the outage fallback) but re-check each key on its next use.
        self._cache = {d: _Entry(0.0, e.scopes) for d, e in self._cache.items()}

    def _listening_started(self) -> None:
        # Changes made while we were not listening were missed: re-check every key.
        self._mark_all_stale()
        self._listening = True

    def _listening_lost(self) -> None:
        self._listening = False


async def register_key(engine: AsyncEngine, key: str, name: str, scopes: list[str]) -> None:
    from sqlalchemy.dialects.postgresql import insert

    stmt = insert(api_keys).values(key_hash=hash_key(key), name=name, scopes=scopes)
    stmt = stmt.on_conflict_do_update(
        index_elements=[api_keys.c.key_hash], set_={"scopes": scopes, "name": name}
    )
    async with engine.begin() as conn:
        await conn.execute(stmt)


def grants(scopes: frozenset[str], scope: Scope) -> bool:
    """Whether a key with `scopes` holds `scope` (admin grants every scope)."""
    return scope in scopes or Scope.ADMIN in scopes


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


async def authenticate(headers: Mapping[str, str], store: KeyStore, scope: Scope) -> frozenset[str]:
    """The caller's scopes, or Problem 401 (no or unknown key), 403 (scope lacking) or 503."""
    header = headers.get("authorization", "")
    kind, _, key = header.partition(" ")
    if kind.lower() != "bearer" or not key.strip():
        raise _unauthorized("Send an API key as 'Authorization: Bearer <key>'.")
    scopes = await store.scopes_for(key.strip())
    if scopes is None:
        raise _unauthorized("The API key is unknown or revoked.")
    if not grants(scopes, scope):
        raise Problem(403, "Forbidden", f"The API key lacks the scope '{scope}'.")
    return scopes


# Declares the scheme (and each route's scope) in the OpenAPI document; `check` below still
# reads the header itself so that every failure is a problem with its own detail.
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    description="An API key: `Authorization: Bearer <key>`. Keys carry scopes (events:write, "
    "customers:read, scores:read, models:write, notify:read, notify:write, pii:read, "
    "segments:read, segments:write, admin); "
    "each operation names the one it needs (admin grants every scope). pii:read adds "
    "customers' personal data (name, e-mail, phone, profile values) where an operation says so.",
)
BearerCredentials = HTTPAuthorizationCredentials | None


AUTHENTICATED_SCOPES = "api_scopes"


class ScopeCheck:
    """The dependency a route declares; `shared.service_app` runs the same check before the
    body is read, and this one then reuses its answer."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        # FastAPI reads a dependency's parameters from its signature: the bearer scheme with this
        # scope is what declares the route's security in the OpenAPI document.
        declared = Annotated[BearerCredentials, Security(bearer, scopes=[scope.value])]
        self.__signature__ = inspect.Signature(
            [
                inspect.Parameter(
                    "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request
                ),
                inspect.Parameter(
                    "declared", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=declared
                ),
            ],
            return_annotation=frozenset[str],
        )

    async def __call__(
        self, request: Request, declared: BearerCredentials = None
    ) -> frozenset[str]:
        known: frozenset[str] | None = getattr(request.state, AUTHENTICATED_SCOPES, None)
        if known is not None:
            return known
        return await authenticate(request.headers, request.app.state.key_store, self.scope)


def require(scope: Scope) -> ScopeCheck:
    return ScopeCheck(scope)
