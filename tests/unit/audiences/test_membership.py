"""Membership diffing and the customer view: who enters, who exits, and what each message
changes, in pure functions."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.audiences.domain.customers import CustomerView, Update, UpdateKind, apply
from services.audiences.domain.membership import Change, Reason, changes_of, diff

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def test_only_the_considered_customers_move() -> None:
    found = diff(considered={"a", "b", "c"}, members={"b", "c", "z"}, matching={"a", "c", "y"})
    assert found.entered == {"a"}  # y was not considered
    assert found.exited == {"b"}  # z was not considered: it stays a member


def test_no_change_no_event() -> None:
    found = diff({"a", "b"}, {"a"}, {"a"})
    assert not found.entered and not found.exited


def test_each_stay_has_its_own_entry_and_exit_ids() -> None:
    first = changes_of("vip", {"c1": T0}, {}, Reason.CUSTOMER_CHANGED, T0)
    exit_ = changes_of("vip", {}, {"c1": T0}, Reason.CUSTOMER_CHANGED, T0 + timedelta(days=1))
    again = changes_of("vip", {"c1": T0 + timedelta(days=2)}, {}, Reason.TIME_PASSED, T0)
    assert first[0].change is Change.ENTERED and exit_[0].change is Change.EXITED
    ids = {first[0].event_id, exit_[0].event_id, again[0].event_id}
    assert len(ids) == 3
    # a replay derives the same id
    assert changes_of("vip", {"c1": T0}, {}, Reason.CUSTOMER_CHANGED, T0)[0].event_id in ids


def test_exits_come_before_entries_in_customer_order() -> None:
    changes = changes_of("s", {"b": T0, "a": T0}, {"c": T0}, Reason.CUSTOMER_CHANGED, T0)
    assert [(c.customer_id, c.change) for c in changes] == [
        ("c", Change.EXITED), ("a", Change.ENTERED), ("b", Change.ENTERED),
    ]  # fmt: skip


def _update(kind: UpdateKind, at: datetime = T0, **fields: object) -> Update:
    return Update("e", "c1", at, kind, **fields)  # type: ignore[arg-type]


def test_lifecycle_messages_apply_in_order_and_a_late_entry_does_not_rewind() -> None:
    view = CustomerView("c1")
    view = apply(view, _update(UpdateKind.STAGE, stage="acquisition", entry=True))
    view = apply(view, _update(UpdateKind.STAGE, stage="development"))
    view = apply(view, _update(UpdateKind.STAGE, stage="acquisition", entry=True))
    assert view.stage == "development"
    view = apply(view, _update(UpdateKind.FLAG, flag="at_risk", flag_value=True))
    assert view.flags == {"at_risk"}
    view = apply(view, _update(UpdateKind.FLAG, flag="at_risk", flag_value=False))
    assert view.flags == frozenset()
    assert apply(view, _update(UpdateKind.TIER, tier="A")).tier == "A"


def test_an_older_score_or_profile_changes_nothing() -> None:
    view = apply(
        CustomerView("c1"),
        _update(UpdateKind.SCORES, scores={"clv": 500.0, "churn_risk": 0.2}, rfm_segment="loyal"),
    )
    older = _update(UpdateKind.SCORES, T0 - timedelta(hours=1), scores={"clv": 1.0})
    assert apply(view, older) == view
    assert (view.clv, view.churn_risk, view.rfm_segment) == (500.0, 0.2, "loyal")
    profiled = apply(view, _update(UpdateKind.PROFILE, locale="zh-CN", attributes={"plan": "gold"}))
    late = _update(UpdateKind.PROFILE, T0 - timedelta(days=1), locale="en-GB")
    assert apply(profiled, late) == profiled
    merged = apply(
        profiled, _update(UpdateKind.PROFILE, T0 + timedelta(days=1), attributes={"seats": 3})
    )
    assert merged.attributes == {"plan": "gold", "seats": 3} and merged.locale == "zh-CN"


def test_purchases_keep_the_latest_time_and_count() -> None:
    view = apply(CustomerView("c1"), _update(UpdateKind.PURCHASE, T0))
    view = apply(view, _update(UpdateKind.PURCHASE, T0 - timedelta(days=3)))  # late, earlier
    assert view.last_purchase_at == T0 and view.purchase_count == 2
    assert apply(view, _update(UpdateKind.NONE)) == replace(view)
