"""The batch path of decisions into the outbox (`decision_rows`) is the contract's one encoder:
byte for byte what `enqueue` makes of the per-decision Kafka records (`decision_records`)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from services.notify.adapters.notifications import decision_records, decision_rows
from shared.cloudevents import outbox_headers

T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def _message(i: int, **changes: Any) -> dict[str, Any]:
    message = {
        "id": f"m-{i}",
        "customer_id": f"c-{i}",
        "playbook": "winback",
        "step": "first",
        "channel": "email",
        "occurrence_id": f"o-{i}",
        "trigger_kind": "stage_entered",
        "due_at": T0 + timedelta(hours=i),
        "attempts": i % 3,
        "coupon": f"WB-{i}" if i % 2 else None,
    }
    return {**message, **changes}


def test_batch_rows_are_byte_identical_to_the_per_record_path() -> None:
    statuses = ["scheduled", "deferred", "retrying", "sent", "failed", "suppressed", "cancelled"]
    decided = [(_message(i), statuses[i % len(statuses)], f"reason-{i}") for i in range(40)]
    decided += [
        (_message(90, customer_id='c "quoted" \\ é ü 客户'), "scheduled", "x"),  # escaping
        (_message(91, due_at="2026-03-02T00:00:00+00:00"), "sent", "delivered"),  # text due
        (_message(92, due_at=None, attempts=None, step=3), "failed", "no_address"),
        (_message(93, due_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC)), "cancelled", "bought"),
    ]
    for at in (T0, datetime(2026, 3, 1, tzinfo=UTC), T0.astimezone(UTC).replace(microsecond=0)):
        expected = [
            (r.key, r.value, outbox_headers(r.headers)) for r in decision_records(decided, at)
        ]
        assert decision_rows(decided, at) == expected


def test_no_decisions_no_rows() -> None:
    assert decision_rows([], T0) == []
