"""The admin API for API keys (scope `admin`): create, list, revoke.

Revocation takes effect on every instance of every service within a second (see shared/auth.py).
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, StringConstraints
from pydantic.functional_validators import AfterValidator

from shared.api_key_admin import KeyInfo, create_key, list_keys, revoke_key
from shared.auth import Scope, require
from shared.event_limits import printable
from shared.problems import Problem

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])
Admin = Annotated[frozenset[str], Depends(require(Scope.ADMIN))]


class NewKey(BaseModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(printable)]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=len(Scope))]


class KeyOut(BaseModel):
    id: str = Field(description="First 16 hex digits of the key's SHA-256 digest")
    name: str
    scopes: list[str]
    created_at: datetime | None
    revoked_at: datetime | None


class CreatedKey(KeyOut):
    key: str = Field(description="The key itself: shown this once, never stored")


class KeyList(BaseModel):
    items: list[KeyOut]


def _out(info: KeyInfo) -> KeyOut:
    return KeyOut(**info.__dict__)


@router.post("", status_code=201, response_model=CreatedKey, summary="Create a key")
async def create(body: NewKey, request: Request, _: Admin) -> CreatedKey:
    key, info = await create_key(
        request.app.state.engine, body.name, [s.value for s in body.scopes]
    )
    return CreatedKey(key=key, **info.__dict__)


@router.get("", response_model=KeyList, summary="Every key, revoked ones included")
async def list_all(request: Request, _: Admin) -> KeyList:
    return KeyList(items=[_out(info) for info in await list_keys(request.app.state.engine)])


@router.delete(
    "/{key_id}",
    response_model=KeyOut,
    summary="Revoke a key (effective everywhere within a second; repeating it is harmless)",
    responses={404: {"description": "No key has this id"}},
)
async def revoke(key_id: str, request: Request, _: Admin) -> KeyOut:
    info = await revoke_key(request.app.state.engine, key_id)
    if info is None:
        raise Problem(404, "Key not found", f"No API key has the id '{key_id}'.")
    return _out(info)
