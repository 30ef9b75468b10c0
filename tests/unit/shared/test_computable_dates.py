"""Consumers refuse, when decoding, an event whose moment their date arithmetic cannot hold."""

import pytest

from shared.cloudevents import CloudEventError
from shared.customer_event_codec import decode_record, to_kafka_record
from shared.events import customer_event_adapter
from tests.support.factories import purchase


class Consumed:
    """A record as one written straight to the topic: ingest's own range is not applied."""

    def __init__(self, at: str) -> None:
        event = customer_event_adapter.validate_python(purchase("c-1", "2000-01-01T00:00:00Z"))
        record = to_kafka_record("clm.customer-events.v1", event)
        self.value = record.value.replace(b"2000-01-01T00:00:00Z", at.encode())
        self.headers = tuple(record.headers)
        assert at.encode() in self.value


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+00:00", "1899-12-31T23:59:59+00:00",
                                "2200-01-01T00:00:00+00:00", "9999-12-31T23:59:59+00:00"])  # fmt: skip
def test_a_moment_the_consumers_cannot_compute_with_is_refused_naming_occurred_at(at: str) -> None:
    # Refused by the event model (before 1970) or by the consumers' own guard (from 2200).
    with pytest.raises(CloudEventError, match=r"occurred_at"):
        decode_record(Consumed(at))


def test_a_moment_inside_the_range_decodes() -> None:
    assert decode_record(Consumed("1970-01-01T00:00:00+00:00")).occurred_at.year == 1970
    assert decode_record(Consumed("2199-12-31T23:59:59+00:00")).occurred_at.year == 2199
