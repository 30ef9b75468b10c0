"""Which pending messages a batch's events and corrections cancel: the first request wins."""

from datetime import UTC, datetime, timedelta

from services.notify.domain.cancellations import Cancellation, Pending, cancelled

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _pending(
    id_: str,
    customer: str = "c1",
    occurrence: str = "o1",
    trigger_at: datetime = T0,
    cancel_on: tuple[str, ...] = ("purchase",),
) -> Pending:
    return Pending(id_, customer, occurrence, trigger_at, cancel_on)


def test_an_event_cancels_the_playbooks_naming_it_that_were_triggered_before_it() -> None:
    messages = [
        _pending("m1"),
        _pending("m2", cancel_on=()),  # its playbook names no cancelling event
        _pending("m3", trigger_at=T0 + timedelta(hours=2)),  # triggered after the purchase
        _pending("m4", customer="c2"),  # another customer's
        _pending("m5", trigger_at=T0 + timedelta(hours=1)),  # at the same moment: cancelled
    ]
    request = Cancellation.by_event("c1", "purchase", T0 + timedelta(hours=1))

    assert [(m.id, i) for m, i in cancelled([request], messages)] == [("m1", 0), ("m5", 0)]
    assert request.reason == "cancelled_by:purchase"


def test_an_event_type_the_playbook_does_not_name_cancels_nothing() -> None:
    request = Cancellation.by_event("c1", "contact", T0 + timedelta(hours=1))
    assert cancelled([request], [_pending("m1")]) == []


def test_a_retraction_cancels_the_messages_of_that_occurrence_only() -> None:
    messages = [_pending("m1", occurrence="o1", cancel_on=()), _pending("m2", occurrence="o2")]
    request = Cancellation.retraction("c1", "o1")

    assert [(m.id, i) for m, i in cancelled([request], messages)] == [("m1", 0)]
    assert request.reason == "trigger_retracted"


def test_the_first_request_in_batch_order_names_the_reason_and_none_cancels_twice() -> None:
    messages = [_pending("m2"), _pending("m1")]
    later = T0 + timedelta(hours=1)
    requests = [
        Cancellation.by_event("c1", "purchase", later),
        Cancellation.retraction("c1", "o1"),
        Cancellation.by_event("c1", "purchase", later),
    ]

    assert [(m.id, i) for m, i in cancelled(requests, messages)] == [("m1", 0), ("m2", 0)]
    assert [(m.id, i) for m, i in cancelled(requests[1:], messages)] == [("m1", 0), ("m2", 0)]
