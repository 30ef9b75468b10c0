"""A parsed filter as a SQL condition over audience_customers (the one place its meaning lives:
counts, members, exports and every membership evaluation use it)."""

from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

from services.audiences.domain.filters import FIELDS, All, AnyOf, Comparison, Filter, Kind, Not

from .tables import audience_customers as c


def condition(node: Filter, now: datetime) -> ColumnElement[bool]:
    """Never NULL: a comparison on a missing value is false, so `not` of it is true."""
    if isinstance(node, All):
        return sa.and_(*(condition(n, now) for n in node.nodes))
    if isinstance(node, AnyOf):
        return sa.or_(*(condition(n, now) for n in node.nodes))
    if isinstance(node, Not):
        return sa.not_(condition(node.node, now))
    return sa.func.coalesce(_comparison(node, now), sa.false())


def _comparison(cmp: Comparison, now: datetime) -> ColumnElement[bool]:
    attribute = cmp.attribute
    if attribute is not None:
        return _attribute(attribute, cmp.op, cmp.value)
    column = c.c[cmp.field]
    op, value = cmp.op, cmp.value
    if FIELDS[cmp.field].kind is Kind.FLAGS:
        return column.contains([value])  # flags @> ARRAY[value]
    if op == "exists":
        return column.is_not(None) if value else column.is_(None)
    if op == "within_days":
        return column >= now - timedelta(days=value)
    if op == "older_than_days":
        return column < now - timedelta(days=value)
    return _ordinary(column, op, value)


def _ordinary(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "eq":
        return column == value  # type: ignore[no-any-return]
    if op == "ne":
        return column != value  # type: ignore[no-any-return]
    if op == "in":
        return column.in_(list(value))  # type: ignore[no-any-return]
    if op == "gt":
        return column > value  # type: ignore[no-any-return]
    if op == "gte":
        return column >= value  # type: ignore[no-any-return]
    if op == "lt":
        return column < value  # type: ignore[no-any-return]
    if op == "lte":
        return column <= value  # type: ignore[no-any-return]
    if op == "between":
        return column.between(value[0], value[1])  # type: ignore[no-any-return]
    if op == "prefix":
        return column.startswith(value, autoescape=True)  # type: ignore[no-any-return]
    raise ValueError(f"operator {op} has no SQL form")


def _attribute(name: str, op: str, value: Any) -> ColumnElement[bool]:
    """A profile attribute: compared as JSON for equality (a string never equals a number),
    as a number only where it is one, as text for prefixes."""
    raw = c.c.attributes[name]
    if op == "exists":
        present = c.c.attributes.has_key(name)
        return present if value else sa.not_(present)
    if op in ("eq", "ne", "in"):
        values = list(value) if op == "in" else [value]
        matched = sa.or_(*(raw == sa.cast(sa.literal(_json(v)), JSONB) for v in values))
        # "ne": present and different (a missing attribute matches no comparison)
        return sa.and_(raw.is_not(None), sa.not_(matched)) if op == "ne" else matched
    if op == "prefix":
        text = c.c.attributes[name].astext
        is_text = sa.func.jsonb_typeof(raw) == "string"
        return sa.case((is_text, text.startswith(value, autoescape=True)), else_=sa.false())
    number = sa.cast(c.c.attributes[name].astext, sa.Float)
    is_number = sa.func.jsonb_typeof(raw) == "number"
    # CASE, not AND: PostgreSQL may evaluate AND's operands in any order, and the cast of a
    # string would fail.
    return sa.case((is_number, _ordinary(number, op, value)), else_=sa.false())


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()
