"""What ingest refuses because downstream cannot hold it: the limits and their pure checks.

Every limit here is documented in the README ("Limits of accepted events").
"""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import ValidationInfo

# Customer ids appear in URL paths of every service: a grammar without '/', '%', spaces or
# dot-only names means every accepted id is addressable and never names another resource.
CUSTOMER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@+\-]{0,127}$"
CUSTOMER_ID_GRAMMAR = (
    "1..128 ASCII characters: letters, digits and . _ : @ + -, starting with a letter or digit"
)
_CUSTOMER_ID = re.compile(CUSTOMER_ID_PATTERN)

# Sums of amounts are kept in Numeric(24,4) (at most 10^20): at 10^12 per event a customer
# would need 10^8 maximal events to overflow it.
MAX_AMOUNT = Decimal("1000000000000")

EARLIEST_OCCURRED_AT = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_MAX_FUTURE_SKEW = timedelta(hours=1)
# Validation context keys that ingest passes: the receiving clock and the allowed skew.
CONTEXT_RECEIVED_AT = "received_at"
CONTEXT_MAX_FUTURE_SKEW = "max_future_skew"

MAX_ATTRIBUTES_DEPTH = 8
MAX_ATTRIBUTE_KEY_CHARS = 128
MAX_ATTRIBUTE_TEXT_CHARS = 2048


def printable(value: str) -> str:
    """Refuses control characters (NUL included): PostgreSQL text cannot hold 0x00, and the
    others corrupt logs, CSV exports and message templates."""
    found = _CONTROL.search(value)
    if found is not None:
        raise ValueError(f"must not contain control characters (found U+{ord(found[0]):04X})")
    return value


# Unicode's control characters (category Cc) are exactly these 65 code points; one regex scan
# replaces a category lookup per character of every text field.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def customer_id_in_grammar(value: str) -> str:
    if not _CUSTOMER_ID.fullmatch(value):
        raise ValueError(f"must be {CUSTOMER_ID_GRAMMAR}")
    return value


def occurred_in_sane_range(value: datetime, info: ValidationInfo) -> datetime:
    """1970 or later; and, when the caller passes its clock, at most the skew ahead of it."""
    if value < EARLIEST_OCCURRED_AT:
        raise ValueError("must be 1970-01-01T00:00:00Z or later")
    context = info.context or {}
    received_at = context.get(CONTEXT_RECEIVED_AT)
    if received_at is not None:
        skew: timedelta = context.get(CONTEXT_MAX_FUTURE_SKEW, DEFAULT_MAX_FUTURE_SKEW)
        if value > received_at + skew:
            raise ValueError(
                f"must not be more than {skew} ahead of the receiving clock "
                f"({received_at.isoformat()})"
            )
    return value


def bounded_attributes(value: Any) -> Any:
    """Walks the free-form `attributes` without recursion, before pydantic validates it, so a
    deep document is refused here instead of exhausting a recursion limit downstream."""
    if not isinstance(value, dict):
        return value  # pydantic reports the type
    stack: list[tuple[Any, int, str]] = [(value, 1, "attributes")]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict):
            if depth > MAX_ATTRIBUTES_DEPTH:
                raise ValueError(f"must not nest deeper than {MAX_ATTRIBUTES_DEPTH} levels")
            for key, child in node.items():
                if isinstance(key, str):
                    _bounded_text(key, MAX_ATTRIBUTE_KEY_CHARS, f"{path} key")
                stack.append((child, depth + 1, f"{path}.{key}"))
        elif isinstance(node, list):
            if depth > MAX_ATTRIBUTES_DEPTH:
                raise ValueError(f"must not nest deeper than {MAX_ATTRIBUTES_DEPTH} levels")
            stack.extend((child, depth + 1, path) for child in node)
        elif isinstance(node, str):
            _bounded_text(node, MAX_ATTRIBUTE_TEXT_CHARS, path)
    return value


def _bounded_text(value: str, limit: int, where: str) -> None:
    if len(value) > limit:
        raise ValueError(f"{where}: text longer than {limit} characters")
    try:
        printable(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
