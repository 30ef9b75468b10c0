"""clm.customer-state.v1: compacted, keyed by customer id; a tombstone announces an erasure.

The erasure message is the tombstone itself (key = customer id, null value), published by
lifecycle after its erasure commits; scoring and notify erase their own data when they read it.
Why no non-null `erased` record before it: compaction keeps only the latest record of a key, so
an `erased` record followed by the tombstone would be compacted away, and a consumer that was
down would still see only the tombstone. Instead the tombstone stays readable for the topic's
`delete.retention.ms` (ERASURE_VISIBLE_MS, set when the topic is created): a consumer down for
less than that still erases when it comes back. A record whose value is not null is another
state message (none is published today); consumers of the erasure ignore it.
"""

from dataclasses import dataclass

from aiokafka import ConsumerRecord

from shared.topics import CUSTOMER_STATE, ERASURE_VISIBLE_MS

TOPIC = CUSTOMER_STATE
__all__ = ["ERASURE_VISIBLE_MS", "TOPIC", "CustomerState", "decode_record", "encode_erasure"]


@dataclass(frozen=True)
class CustomerState:
    customer_id: str
    erased: bool  # True for a tombstone


def encode_erasure(customer_id: str) -> tuple[bytes, None]:
    """The key and (null) value of the erasure tombstone."""
    return customer_id.encode(), None


def decode_record(record: ConsumerRecord) -> CustomerState:  # type: ignore[type-arg]
    """Raises ValueError (the record is poison) when the key is missing or not a UTF-8 id."""
    if not record.key:
        raise ValueError("clm.customer-state.v1 record without a key (the customer id)")
    customer_id = bytes(record.key).decode("utf-8")
    if len(customer_id) > 128:
        raise ValueError("clm.customer-state.v1 key longer than a customer id (128)")
    return CustomerState(customer_id, erased=record.value is None)
