"""The segment filter language: JSON parsed into a typed tree, every mistake named by its path.

A filter is one node:
- `{"all": [node, ...]}`: every node matches; `{"any": [node, ...]}`: at least one does;
  `{"not": node}`: the node does not match.
- a comparison `{"field": <field>, <operator>: <value>}`: exactly one operator.

A customer without a value for the field matches no comparison but `exists: false` (so `not`
of a comparison matches them): two-valued logic, whatever SQL's NULL would say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, get_args

from shared.contracts.customer_scores import RFM_SEGMENTS
from shared.contracts.lifecycle_changes import Stage

STAGES = get_args(Stage)
FLAGS = ("at_risk", "upgrade_candidate")
TIERS = ("A", "B", "C")
MAX_DEPTH = 8  # nesting of all/any/not
MAX_COMPARISONS = 64  # a filter is a definition, not a list of customers
MAX_LIST = 1000  # values of `in`
MAX_DAYS = 36_500
ATTRIBUTE_PREFIX = "attributes."
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


class Kind(StrEnum):
    ENUM = "enum"
    TEXT = "text"
    NUMBER = "number"
    TIME = "time"
    FLAGS = "flags"
    ATTRIBUTE = "attribute"  # a profile attribute: a JSON string, number or boolean


@dataclass(frozen=True)
class FieldSpec:
    kind: Kind
    operators: frozenset[str]
    choices: tuple[str, ...] | None = None
    description: str = ""


_EQUALITY = frozenset({"eq", "ne", "in", "exists"})
_ORDER = frozenset({"gt", "gte", "lt", "lte", "between"})
FIELDS: dict[str, FieldSpec] = {
    "stage": FieldSpec(Kind.ENUM, _EQUALITY, STAGES, "lifecycle stage"),
    "tier": FieldSpec(Kind.ENUM, _EQUALITY, TIERS, "value tier from lifecycle's review"),
    "flags": FieldSpec(Kind.FLAGS, frozenset({"has"}), FLAGS, "lifecycle flags set now"),
    "rfm_segment": FieldSpec(Kind.ENUM, _EQUALITY, RFM_SEGMENTS, "RFM segment from scoring"),
    "locale": FieldSpec(Kind.TEXT, _EQUALITY | {"prefix"}, None, "BCP 47, e.g. zh-CN"),
    "clv": FieldSpec(Kind.NUMBER, _EQUALITY | _ORDER, None, "CLV (reporting currency)"),
    "clv_percentile": FieldSpec(
        Kind.NUMBER, _EQUALITY | _ORDER, None, "0..100: share of scored customers with a lower CLV"
    ),
    "churn_risk": FieldSpec(Kind.NUMBER, _EQUALITY | _ORDER, None, "0..1"),
    "p_alive": FieldSpec(Kind.NUMBER, _EQUALITY | _ORDER, None, "0..1"),
    "health_score": FieldSpec(Kind.NUMBER, _EQUALITY | _ORDER, None, "0..100"),
    "purchase_count": FieldSpec(Kind.NUMBER, _EQUALITY | _ORDER, None, "purchase events seen"),
    "last_purchase_at": FieldSpec(
        Kind.TIME,
        frozenset({"within_days", "older_than_days", "gte", "lte", "between", "exists"}),
        None,
        "time of the latest purchase",
    ),
}
_ATTRIBUTE_OPERATORS = _EQUALITY | _ORDER | {"prefix"}
OPERATORS = frozenset().union(*(s.operators for s in FIELDS.values()), _ATTRIBUTE_OPERATORS)
TIME_WINDOWS = frozenset({"within_days", "older_than_days"})


@dataclass(frozen=True)
class Comparison:
    field: str
    op: str
    value: Any  # typed by the field and operator: str, float, datetime, bool, tuple

    @property
    def attribute(self) -> str | None:
        return (
            self.field.removeprefix(ATTRIBUTE_PREFIX)
            if self.field.startswith(ATTRIBUTE_PREFIX)
            else None
        )


@dataclass(frozen=True)
class All:
    nodes: tuple[Filter, ...]


@dataclass(frozen=True)
class AnyOf:
    nodes: tuple[Filter, ...]


@dataclass(frozen=True)
class Not:
    node: Filter


Filter = Comparison | All | AnyOf | Not


@dataclass(frozen=True)
class FilterIssue:
    field: str  # the path in the request body, e.g. filter.all.1.gte
    message: str


class FilterError(ValueError):
    def __init__(self, issues: list[FilterIssue]) -> None:
        super().__init__("; ".join(f"{i.field}: {i.message}" for i in issues))
        self.issues = issues


def parse_filter(raw: Any, path: str = "filter") -> Filter:
    """The filter, or FilterError naming every bad part by its path."""
    issues: list[FilterIssue] = []
    counter = [0]
    node = _node(raw, path, 0, issues, counter)
    if counter[0] > MAX_COMPARISONS:
        issues.append(FilterIssue(path, f"at most {MAX_COMPARISONS} comparisons"))
    if issues or node is None:
        raise FilterError(issues or [FilterIssue(path, "not a filter")])
    return node


def comparisons(node: Filter) -> list[Comparison]:
    if isinstance(node, Comparison):
        return [node]
    if isinstance(node, Not):
        return comparisons(node.node)
    return [c for n in node.nodes for c in comparisons(n)]


def is_time_relative(node: Filter) -> bool:
    """Whether membership can change with the clock alone (a purchase window)."""
    return any(c.op in TIME_WINDOWS for c in comparisons(node))


def uses_percentile(node: Filter) -> bool:
    """Whether membership can change when other customers' CLV does (percentiles)."""
    return any(c.field == "clv_percentile" for c in comparisons(node))


def to_json(node: Filter) -> Any:
    """The canonical JSON form (what is stored and shown back)."""
    if isinstance(node, All):
        return {"all": [to_json(n) for n in node.nodes]}
    if isinstance(node, AnyOf):
        return {"any": [to_json(n) for n in node.nodes]}
    if isinstance(node, Not):
        return {"not": to_json(node.node)}
    value = node.value
    if isinstance(value, datetime):
        value = value.isoformat()
    elif isinstance(value, tuple):
        value = [v.isoformat() if isinstance(v, datetime) else v for v in value]
    return {"field": node.field, node.op: value}


def _node(
    raw: Any, path: str, depth: int, issues: list[FilterIssue], counter: list[int]
) -> Filter | None:
    if not isinstance(raw, dict):
        issues.append(FilterIssue(path, "must be an object: all, any, not or a comparison"))
        return None
    if depth > MAX_DEPTH:
        issues.append(FilterIssue(path, f"nested deeper than {MAX_DEPTH}"))
        return None
    logical = [k for k in ("all", "any", "not") if k in raw]
    if logical:
        if len(raw) != 1:
            issues.append(FilterIssue(path, f"'{logical[0]}' must be the object's only key"))
            return None
        key = logical[0]
        if key == "not":
            inner = _node(raw["not"], f"{path}.not", depth + 1, issues, counter)
            return Not(inner) if inner is not None else None
        items = raw[key]
        if not isinstance(items, list) or not items:
            issues.append(FilterIssue(f"{path}.{key}", "must be a non-empty list of filters"))
            return None
        nodes = [
            _node(item, f"{path}.{key}.{i}", depth + 1, issues, counter)
            for i, item in enumerate(items)
        ]
        if any(n is None for n in nodes):
            return None
        kept = tuple(n for n in nodes if n is not None)
        return All(kept) if key == "all" else AnyOf(kept)
    counter[0] += 1
    return _comparison(raw, path, issues)


def _comparison(raw: dict[str, Any], path: str, issues: list[FilterIssue]) -> Comparison | None:
    field = raw.get("field")
    if not isinstance(field, str):
        issues.append(
            FilterIssue(
                f"{path}.field", "required: one of " + ", ".join([*FIELDS, "attributes.<name>"])
            )
        )
        return None
    operators: frozenset[str]
    spec = FIELDS.get(field)
    if spec is not None:
        operators = spec.operators
    elif field.startswith(ATTRIBUTE_PREFIX) and _ATTRIBUTE_NAME.match(
        field.removeprefix(ATTRIBUTE_PREFIX)
    ):
        operators = _ATTRIBUTE_OPERATORS
    else:
        issues.append(
            FilterIssue(
                f"{path}.field",
                f"unknown field '{field}': one of {', '.join(FIELDS)} or attributes.<name> "
                "(letters, digits, _ and -)",
            )
        )
        return None
    ops = [k for k in raw if k != "field"]
    if len(ops) != 1:
        issues.append(
            FilterIssue(
                path, f"needs exactly one operator for {field}: {', '.join(sorted(operators))}"
            )
        )
        return None
    op = ops[0]
    if op not in operators:
        issues.append(
            FilterIssue(
                f"{path}.{op}",
                f"operator not allowed for {field}: one of {', '.join(sorted(operators))}",
            )
        )
        return None
    value = _value(spec, field, op, raw[op], f"{path}.{op}", issues)
    return None if value is _INVALID else Comparison(field, op, value)


_INVALID = object()


def _value(
    spec: FieldSpec | None, field: str, op: str, raw: Any, path: str, issues: list[FilterIssue]
) -> Any:
    def bad(message: str) -> Any:
        issues.append(FilterIssue(path, message))
        return _INVALID

    if op == "exists":
        return raw if isinstance(raw, bool) else bad("must be true or false")
    if op in TIME_WINDOWS:
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw <= MAX_DAYS:
            return bad(f"must be a number of days, 0 < days <= {MAX_DAYS}")
        return float(raw)
    if op == "in":
        if not isinstance(raw, list) or not raw or len(raw) > MAX_LIST:
            return bad(f"must be a non-empty list of at most {MAX_LIST} values")
        values = [_scalar(spec, field, v, f"{path}.{i}", issues) for i, v in enumerate(raw)]
        return _INVALID if any(v is _INVALID for v in values) else tuple(values)
    if op == "between":
        if not isinstance(raw, list) or len(raw) != 2:
            return bad("must be a list [low, high] (both included)")
        low, high = (_ordered(spec, v, f"{path}.{i}", issues) for i, v in enumerate(raw))
        if _INVALID in (low, high):
            return _INVALID
        if low > high:
            return bad("low must not exceed high")
        return (low, high)
    if op in ("gt", "gte", "lt", "lte"):
        return _ordered(spec, raw, path, issues)
    if op == "prefix":
        if not isinstance(raw, str) or not 0 < len(raw) <= 64:
            return bad("must be a string of 1..64 characters")
        return raw
    if op == "has":
        assert spec is not None and spec.choices is not None
        if raw not in spec.choices:
            return bad(f"must be one of {', '.join(spec.choices)}")
        return raw
    return _scalar(spec, field, raw, path, issues)  # eq, ne


def _scalar(
    spec: FieldSpec | None, field: str, raw: Any, path: str, issues: list[FilterIssue]
) -> Any:
    def bad(message: str) -> Any:
        issues.append(FilterIssue(path, message))
        return _INVALID

    if spec is None:  # a profile attribute: whatever JSON scalar the profile carried
        if isinstance(raw, str | bool) or (isinstance(raw, int | float)):
            return raw
        return bad("must be a string, number or boolean")
    if spec.kind is Kind.ENUM:
        assert spec.choices is not None
        return raw if raw in spec.choices else bad(f"must be one of {', '.join(spec.choices)}")
    if spec.kind is Kind.TEXT:
        return raw if isinstance(raw, str) and len(raw) <= 64 else bad("must be a string")
    if spec.kind is Kind.NUMBER:
        return _number(raw, path, issues)
    return bad(f"{field} does not take this operator")


def _number(raw: Any, path: str, issues: list[FilterIssue]) -> Any:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw != raw:
        issues.append(FilterIssue(path, "must be a number"))
        return _INVALID
    return float(raw)


def _ordered(spec: FieldSpec | None, raw: Any, path: str, issues: list[FilterIssue]) -> Any:
    if spec is not None and spec.kind is Kind.TIME:
        try:
            moment = datetime.fromisoformat(str(raw).upper()) if isinstance(raw, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            issues.append(FilterIssue(path, "must be an RFC 3339 time with offset"))
            return _INVALID
        return moment
    return _number(raw, path, issues)
