"""Finding customers by their normalised contact keys (lifecycle_contact_keys, 0014_h10).

Each key column has a btree index with text_pattern_ops, customer_id second: an exact match
reads its page in order from the index, a prefix (`LIKE 'key%'`) is a range scan of it.
"""

from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field

from services.lifecycle.domain.contact_keys import (
    InvalidContact,
    email_key,
    escape_like,
    name_key,
    phone_key,
)
from shared.problems import validation_problem

from .tables import contact_keys, customers

MIN_PREFIX = 3  # characters of the normalised key: fewer would list customers wholesale
_NORMALISERS = {"email": email_key, "phone": phone_key, "name": name_key}


class CustomerSearch(BaseModel):
    """Customers whose contact details match every field given (at least one). Values are
    normalised as stored (README, "Finding customers"): e-mail trimmed and case-folded;
    phone reduced to its digits with the international prefix (+ or 00) dropped; name
    NFKC-normalised, case-folded and its whitespace collapsed. `prefix` matches the start of
    the normalised value (at least 3 characters; a name from its first word)."""

    email: str | None = Field(default=None, min_length=1, max_length=254)
    phone: str | None = Field(default=None, min_length=1, max_length=32)
    name: str | None = Field(default=None, min_length=1, max_length=256)
    match: Literal["exact", "prefix"] = "exact"
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(
        default=None, max_length=128, description="next_cursor of the previous page"
    )


def _error(field: str, message: str, code: str) -> dict[str, Any]:
    # Named as the framework names body fields, so every 422 of the route reads alike.
    return {"field": f"body.{field}", "message": message, "code": code}


def conditions(search: CustomerSearch) -> list[Any]:
    conditions: list[Any] = []
    errors: list[dict[str, Any]] = []
    for field, normalise in _NORMALISERS.items():
        value = getattr(search, field)
        if value is None:
            continue
        try:
            key = normalise(value)
        except InvalidContact as exc:
            errors.append(_error(field, f"{field} {exc}", "invalid_value"))
            continue
        column = contact_keys.c[field]
        if search.match == "exact":
            conditions.append(column == key)
        elif len(key) < MIN_PREFIX:
            message = f"a prefix needs at least {MIN_PREFIX} characters once normalised"
            errors.append(_error(field, message, "too_short"))
        else:
            conditions.append(column.like(escape_like(key) + "%", escape="\\"))
    if errors:
        names = ", ".join(e["field"] for e in errors)
        raise validation_problem(errors, f"Invalid fields: {names}")
    if not conditions:
        raise validation_problem(
            [_error("email", "give email, phone or name", "missing")],
            "Give at least one of email, phone or name.",
        )
    return conditions


def lookup_query(search: CustomerSearch, *, with_facts: bool) -> sa.Select[Any]:
    """One page (and one row more, to tell whether another follows) of matching customers."""
    columns = [contact_keys.c.customer_id, customers.c.stage, customers.c.tier]
    if with_facts:  # contact details are read from the profile, never from the keys
        columns.append(customers.c.facts)
    joined = contact_keys.outerjoin(
        customers, customers.c.customer_id == contact_keys.c.customer_id
    )
    query = (
        sa.select(*columns)
        .select_from(joined)
        .where(*conditions(search))
        .order_by(contact_keys.c.customer_id)
        .limit(search.limit + 1)
    )
    if search.cursor:
        query = query.where(contact_keys.c.customer_id > search.cursor)
    return query
