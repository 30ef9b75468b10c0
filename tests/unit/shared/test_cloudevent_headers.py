"""One CloudEvents encoder: binary headers and the outbox's JSON text are the same bytes, and
every producer's wire format is what it was (pinned here byte for byte)."""

from datetime import UTC, datetime

import numpy as np

from services.scoring.service_layer.publishing import score_messages
from shared.cloudevents import CloudEvent, HeaderEncoder, outbox_headers, to_kafka
from shared.customer_event_codec import to_kafka_record
from shared.events import customer_event_adapter

AT = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def test_the_outbox_text_is_the_binary_headers_as_the_outbox_stores_them() -> None:
    encoder = HeaderEncoder("/clm/x", "clm.x.done", "urn:clm:schema:x:v1")
    for ident, subject in [("e-1", "c-1"), ('quote"and\\slash', "ünïcode-☃"), ("", "")]:
        binary = encoder.binary(ident.encode(), subject.encode(), AT.isoformat().encode())
        assert encoder.json(ident, subject, AT.isoformat()) == outbox_headers(binary)
        other = encoder.binary(ident.encode(), subject.encode(), b"t", type=b"clm.x.other")
        assert encoder.json(ident, subject, "t", type="clm.x.other") == outbox_headers(other)


def test_a_generic_cloudevent_keeps_its_header_order() -> None:
    event = CloudEvent("id-1", "/clm/notify", "clm.notify.message_sent", "c-1", AT, {"a": 1})
    record = to_kafka("clm.notifications.v1", event)
    assert record.headers == [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"id-1"),
        ("ce_source", b"/clm/notify"),
        ("ce_type", b"clm.notify.message_sent"),
        ("ce_subject", b"c-1"),
        ("ce_time", b"2026-03-01T12:30:00+00:00"),
        ("content-type", b"application/json"),
    ]
    untimed = to_kafka("t", CloudEvent("i", "s", "y", "c", None, {}, "urn:s", {"traceparent": "p"}))
    assert [k for k, _ in untimed.headers] == [
        "ce_specversion", "ce_id", "ce_source", "ce_type", "ce_subject", "content-type",
        "ce_dataschema", "ce_traceparent",
    ]  # fmt: skip


def test_an_ingested_event_has_the_wire_headers_it_always_had() -> None:
    event = customer_event_adapter.validate_python(
        {
            "event_id": "e-1",
            "customer_id": "c-1",
            "type": "purchase",
            "occurred_at": AT.isoformat(),
            "source": "shop",
            "data": {"order_id": "o-1", "amount": "10.00", "currency": "EUR"},
        }
    )
    record = to_kafka_record("clm.customer-events.v1", event, b"00-trace")
    assert record.key == b"c-1"
    assert record.headers == [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"e-1"),
        ("ce_source", b"/clm/ingest/shop"),
        ("ce_type", b"clm.customer.purchase"),
        ("ce_subject", b"c-1"),
        ("ce_time", b"2026-03-01T12:30:00+00:00"),
        ("content-type", b"application/json"),
        ("ce_dataschema", b"urn:clm:schema:customer-event:v1"),
        ("ce_traceparent", b"00-trace"),
    ]


def test_a_score_update_has_the_outbox_headers_it_always_had() -> None:
    [(key, _, headers)] = score_messages(
        customer_ids=["c1"], model_id="m1", causes=["e1"], time=AT,
        p_alive=np.array([0.5]), churn_risk=np.array([0.2]),
        expected_purchases=np.array([1.0]), expected_avg_spend=np.array([10.0]),
        clv=np.array([99.0]), segment=np.array(["loyal"]), health_score=np.array([70.0]),
        horizon=13.0, time_unit="week",
    )  # fmt: skip
    assert key == b"c1"
    assert headers == (
        '[["ce_specversion","1.0"],'
        '["ce_id","aa9cbacb42d0552c798865db7290ae037dba00022cd29343d07a82f2a80db8b3"],'
        '["ce_source","/clm/scoring"],["ce_type","clm.scoring.scores_updated"],'
        '["ce_subject","c1"],["ce_time","2026-03-01T12:30:00+00:00"],'
        '["content-type","application/json"],["ce_dataschema","urn:clm:schema:customer-scores:v1"]]'
    )
