"""A batch's records share equal header pairs and names, and keep every header as it was."""

from aiokafka.structs import ConsumerRecord

from shared.kafka_consumer import share_repeated_headers
from shared.topics import REDRIVE_FOR_HEADER


def record(offset: int, headers: list[tuple[str, bytes]] | None) -> ConsumerRecord:  # type: ignore[type-arg]
    # New objects per record, as the client decodes them.
    copied = None if headers is None else tuple(("".join(k), bytes(v)) for k, v in headers)
    return ConsumerRecord("t", 0, offset, 0, 0, b"k", b"v", None, 1, 1, copied)  # type: ignore[arg-type]


def test_equal_pairs_and_names_are_one_object_and_nothing_changes() -> None:
    given = [
        [("ce_specversion", b"1.0"), ("ce_id", b"a"), ("content-type", b"application/json")],
        [("ce_specversion", b"1.0"), ("ce_id", b"b"), ("content-type", b"application/json")],
        [("ce_id", b"c"), ("ce_specversion", b"1.0"), ("extra", b"")],
    ]
    records = [record(n, h) for n, h in enumerate(given)]

    share_repeated_headers(records)

    assert [list(r.headers) for r in records] == given  # same pairs, same order
    first, second, third = (r.headers for r in records)
    assert first[0] is second[0] is third[1]  # the spec version pair, once
    assert first[2] is second[2]
    assert first[1] is not second[1]  # different values stay apart
    assert first[1][0] is second[1][0] is third[0][0]  # but share the name "ce_id"


def test_records_without_headers_get_an_empty_tuple() -> None:
    records = [record(0, None), record(1, [])]

    share_repeated_headers(records)

    assert [r.headers for r in records] == [(), ()]


def test_the_batch_header_names_are_returned_so_a_redrive_header_is_found_once() -> None:
    plain = [("ce_id", b"a"), ("ce_type", b"x")]
    redriven = [("ce_id", b"b"), (REDRIVE_FOR_HEADER, b"clm-scoring")]

    assert share_repeated_headers([record(0, plain), record(1, plain)]) == {"ce_id", "ce_type"}
    assert REDRIVE_FOR_HEADER in share_repeated_headers([record(0, plain), record(1, redriven)])
    assert share_repeated_headers([record(0, None)]) == set()
