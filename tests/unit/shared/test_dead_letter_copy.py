"""The DLQ copy of a record always fits the producer's size limit (pure: dead_letter)."""

from aiokafka import ConsumerRecord
from hypothesis import given
from hypothesis import strategies as st

from shared.kafka_consumer import ERROR_HEADER_MIN, Poison, dead_letter
from shared.topics import DLQ_ERROR_HEADER, DLQ_ORIGIN_HEADER, DLQ_TRUNCATED_HEADER

LIMIT = 10_000


def _poison(value: bytes, error: str) -> Poison:
    headers = [("ce_id", b"e-1"), ("ce_type", b"purchase")]
    record = ConsumerRecord("clm.t", 3, 41, 0, 0, b"c-1", value, None, 1, len(value), headers)  # type: ignore[arg-type]
    return Poison(record, error)


def _size(copy: object) -> int:
    key, value, headers = copy.key, copy.value, copy.headers  # type: ignore[attr-defined]
    return len(key) + len(value) + sum(len(n) + len(v) for n, v in headers)


def test_a_small_record_is_copied_whole_with_the_error_capped_at_4000_bytes() -> None:
    copy = dead_letter(_poison(b"{bad", "é" * 3000), "g", LIMIT)
    headers = dict(copy.headers)
    assert copy.value == b"{bad" and copy.key == b"c-1" and headers["ce_id"] == b"e-1"
    assert headers[DLQ_ERROR_HEADER] == ("é" * 2000).encode()  # 4,000 bytes, whole characters
    assert headers[DLQ_ORIGIN_HEADER] == b"clm.t/3/41" and DLQ_TRUNCATED_HEADER not in headers


def test_a_record_larger_than_the_limit_is_cut_and_says_its_length() -> None:
    copy = dead_letter(_poison(b"x" * 50_000, "ValueError: too big"), "g", LIMIT)
    headers = dict(copy.headers)
    assert _size(copy) <= LIMIT
    assert headers[DLQ_TRUNCATED_HEADER] == b"50000" and copy.value == b"x" * len(copy.value)
    assert headers[DLQ_ERROR_HEADER] == b"ValueError: too big"


@given(value=st.integers(0, 2 * LIMIT), error=st.integers(0, 6000))
def test_every_copy_fits_keeps_the_errors_start_and_cuts_only_what_it_must(
    value: int, error: int
) -> None:
    text = "E" * error
    copy = dead_letter(_poison(b"v" * value, text), "group-1", LIMIT)
    headers = dict(copy.headers)
    assert _size(copy) <= LIMIT
    kept = headers[DLQ_ERROR_HEADER]
    assert text.encode().startswith(kept) and len(kept) >= min(error, ERROR_HEADER_MIN)
    if DLQ_TRUNCATED_HEADER in headers:
        assert headers[DLQ_TRUNCATED_HEADER] == str(value).encode()
        assert _size(copy) > LIMIT - 100  # only as much as needed was cut
    else:
        assert copy.value == b"v" * value
