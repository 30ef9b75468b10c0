"""The query parameters of every paginated list: a page size and the previous page's cursor."""

from typing import Annotated

from fastapi import Query

from shared.problems import Problem

PageLimit = Annotated[int, Query(ge=1, le=1000)]
# A cursor that is the last id of the previous page (customer ids are at most 128 characters).
IdCursor = Annotated[
    str | None, Query(max_length=128, description="next_cursor of the previous page")
]
# A cursor that encodes a position (time and id) of the previous page.
PositionCursor = Annotated[
    str | None, Query(max_length=512, description="next_cursor of the previous page")
]


def bad_cursor(reason: str) -> Problem:
    """400 naming `query.cursor`: the cursor is not one this API returned."""
    return Problem(
        400,
        "Bad cursor",
        "Use next_cursor from the previous page.",
        errors=[{"field": "query.cursor", "message": reason, "code": "bad_cursor"}],
    )
