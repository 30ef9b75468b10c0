"""Issue 16.7: a reactivated customer is welcomed back, never welcomed as new a second time."""

from datetime import UTC, datetime

from services.notify.domain import CustomerProfile, Trigger, TriggerKind, load_playbooks, plan
from services.notify.settings import DEFAULT_PLAYBOOKS

BOOK = load_playbooks(DEFAULT_PLAYBOOKS)
NOON_SHANGHAI = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
CUSTOMER = CustomerProfile("c1", email="a@example.com", phone="+861380000")


def _entered_development(from_stage: str | None, occurrence: str) -> Trigger:
    return Trigger(
        TriggerKind.STAGE_ENTERED,
        "c1",
        occurrence,
        NOON_SHANGHAI,
        stage="development",
        from_stage=from_stage,
    )


def test_a_first_purchase_starts_the_new_customer_welcome() -> None:
    planned = plan(_entered_development("acquisition", "t1"), BOOK, CUSTOMER, NOON_SHANGHAI)
    assert {p.playbook.name for p in planned} == {"new_customer"}
    welcome = next(p for p in planned if p.step.name == "welcome")
    assert welcome.status == "scheduled"


def test_a_reactivation_starts_welcome_back_not_the_first_purchase_welcome() -> None:
    planned = plan(_entered_development("churn", "t2"), BOOK, CUSTOMER, NOON_SHANGHAI)
    assert {p.playbook.name for p in planned} == {"welcome_back"}
    assert all(p.status == "scheduled" for p in planned)


def test_the_first_purchase_welcome_goes_to_a_customer_once_ever() -> None:
    again = plan(
        _entered_development("acquisition", "t3"),
        BOOK,
        CUSTOMER,
        NOON_SHANGHAI,
        had_playbooks={"new_customer"},
    )
    assert again and all(p.status == "suppressed" for p in again)
    assert {p.reason for p in again} == {"once_per_customer"}


def test_only_playbooks_marked_once_are_limited() -> None:
    assert BOOK.get("new_customer").once_per_customer  # type: ignore[union-attr]
    planned = plan(
        _entered_development("churn", "t4"),
        BOOK,
        CUSTOMER,
        NOON_SHANGHAI,
        had_playbooks={"welcome_back", "new_customer"},
    )
    assert planned and all(p.status == "scheduled" for p in planned)
