"""The clm.customer-state.v1 contract: the erasure tombstone, encoded and decoded once."""

import pytest
from aiokafka import ConsumerRecord

from shared.contracts.customer_state import CustomerState, decode_record, encode_erasure


def _record(key: bytes | None, value: bytes | None) -> ConsumerRecord:  # type: ignore[type-arg]
    return ConsumerRecord(
        topic="clm.customer-state.v1", partition=0, offset=0, timestamp=0, timestamp_type=0,
        key=key, value=value, checksum=None, serialized_key_size=0, serialized_value_size=0,
        headers=(),
    )  # fmt: skip


def test_the_erasure_is_a_tombstone_keyed_by_the_customer_id() -> None:
    key, value = encode_erasure("c-1")
    assert (key, value) == (b"c-1", None)
    assert decode_record(_record(key, value)) == CustomerState("c-1", erased=True)


def test_a_record_with_a_value_is_not_an_erasure() -> None:
    assert decode_record(_record(b"c-1", b"{}")) == CustomerState("c-1", erased=False)


@pytest.mark.parametrize("key", [None, b"", b"\xff", b"x" * 129])
def test_a_record_without_a_usable_key_is_poison(key: bytes | None) -> None:
    with pytest.raises(ValueError):
        decode_record(_record(key, None))
