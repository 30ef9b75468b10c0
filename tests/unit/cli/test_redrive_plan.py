"""`clm dlq redrive` publishes each dead-lettered original once, for the groups that failed it."""

from datetime import UTC, datetime

from clm_cli.dlq import DeadLetter, plan_redrive
from shared.topics import REDRIVE_FOR_HEADER


def letter(offset: int, group: str | None, origin: str, **extra: bytes) -> DeadLetter:
    headers = [("ce_id", b"evt-1"), *extra.items()]
    if group is not None:
        headers += [("dlq_error", b"OverflowError: x"), ("dlq_group", group.encode())]
        headers += [("dlq_origin", origin.encode())]
    return DeadLetter(
        "clm.customer-events.v1.dlq", 0, offset, datetime.now(UTC), b"c-1", b"{}", tuple(headers)
    )


def test_one_record_dead_lettered_by_three_groups_is_redriven_once_for_those_three() -> None:
    origin = "clm.customer-events.v1/4/17"
    letters = [letter(0, "clm-scoring", origin), letter(1, "clm-lifecycle", origin),
               letter(2, "clm-notify-events", origin)]  # fmt: skip

    [redrive] = plan_redrive(letters)

    assert redrive.groups == ("clm-lifecycle", "clm-notify-events", "clm-scoring")
    assert redrive.copies == 3
    record = redrive.record()
    assert record.topic == "clm.customer-events.v1"
    headers = dict(record.headers)
    assert headers[REDRIVE_FOR_HEADER] == b"clm-lifecycle,clm-notify-events,clm-scoring"
    assert not [h for h in headers if h.startswith("dlq_")]


def test_different_originals_each_go_once_in_dlq_order() -> None:
    letters = [letter(0, "clm-lifecycle", "t/0/1"), letter(1, "clm-scoring", "t/0/2"),
               letter(2, "clm-scoring", "t/0/1")]  # fmt: skip

    plan = plan_redrive(letters)

    assert [(r.letter.origin, r.groups) for r in plan] == [
        ("t/0/1", ("clm-lifecycle", "clm-scoring")), ("t/0/2", ("clm-scoring",)),
    ]  # fmt: skip


def test_a_copy_that_names_no_group_is_redriven_for_every_group() -> None:
    [redrive] = plan_redrive([letter(5, None, "")])

    assert redrive.groups == ()
    assert REDRIVE_FOR_HEADER not in dict(redrive.record().headers)


def test_an_earlier_redrives_target_is_replaced() -> None:
    stale = {REDRIVE_FOR_HEADER: b"clm-lifecycle,clm-scoring"}
    [redrive] = plan_redrive([letter(0, "clm-scoring", "t/1/9", **stale)])

    assert [v for k, v in redrive.record().headers if k == REDRIVE_FOR_HEADER] == [b"clm-scoring"]
