"""Moments as stored text: RFC 3339 with offset, the way `datetime.isoformat` writes them."""

from datetime import UTC, datetime

import orjson


def iso(moment: datetime) -> str:
    """`moment.isoformat()`; orjson renders a UTC time identically, several times faster."""
    if moment.tzinfo is UTC:
        return orjson.dumps(moment)[1:-1].decode()
    return moment.isoformat()


def parse_utc(raw: str) -> datetime:
    """A stored moment in UTC; text without an offset is refused."""
    moment = datetime.fromisoformat(raw)
    if moment.tzinfo is UTC:  # as stored: no conversion needed
        return moment
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without offset in stored facts: {raw!r}")
    return moment.astimezone(UTC)
