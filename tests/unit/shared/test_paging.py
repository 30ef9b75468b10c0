"""The paging problems every paginated list answers with (shared/paging.py, shared/problems.py)."""

from shared.paging import bad_cursor
from shared.problems import customer_not_found


def test_a_bad_cursor_is_a_400_naming_the_query_field() -> None:
    body = bad_cursor("not base64").body("/v1/messages")
    assert (body["status"], body["title"]) == (400, "Bad cursor")
    assert body["errors"] == [
        {"field": "query.cursor", "message": "not base64", "code": "bad_cursor"}
    ]


def test_an_unknown_customer_is_a_404_saying_which_service_knows_nothing() -> None:
    body = customer_not_found("Notify knows nothing of 'c-1' yet.").body()
    assert (body["status"], body["title"]) == (404, "Customer not found")
    assert body["detail"] == "Notify knows nothing of 'c-1' yet."
