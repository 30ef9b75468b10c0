"""Consumers refuse, when decoding, an event whose moment their date arithmetic cannot hold."""

import pytest

from shared.cloudevents import CloudEventError
from shared.customer_event_codec import decode_record, to_kafka_record
from shared.events import customer_event_adapter
from tests.support.factories import purchase


class Consumed:
    def __init__(self, at: str) -> None:
        event = customer_event_adapter.validate_python(purchase("c-1", at))
        record = to_kafka_record("clm.customer-events.v1", event)
        self.value, self.headers = record.value, tuple(record.headers)


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+00:00", "1899-12-31T23:59:59+00:00",
                                "2200-01-01T00:00:00+00:00", "9999-12-31T23:59:59+00:00"])  # fmt: skip
def test_a_moment_outside_1900_to_2200_is_refused_naming_occurred_at(at: str) -> None:
    with pytest.raises(CloudEventError, match=r"occurred_at .* outside the range"):
        decode_record(Consumed(at))


def test_a_moment_inside_the_range_decodes() -> None:
    assert decode_record(Consumed("1900-01-01T00:00:00+00:00")).occurred_at.year == 1900
