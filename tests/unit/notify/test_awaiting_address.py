"""A trigger that arrives before the profile carrying the address waits for it (a grace).

Lifecycle changes and profile events reach notify on two topics, read by two groups: under lag
the stage change that starts the welcome can be planned before the profile with the email is
merged. The step then waits (scheduled, reason awaiting_address) until the grace ends; only a
profile still without the address by then, or one known long before the trigger, suppresses it.
"""

from datetime import UTC, datetime, timedelta

from services.notify.domain import (
    AddressWait,
    Channel,
    CustomerProfile,
    Defer,
    Send,
    Suppress,
    Trigger,
    TriggerKind,
    decide,
    load_playbooks,
    plan,
)
from services.notify.domain.decisions import AWAITING_ADDRESS
from services.notify.domain.playbooks import Policy
from services.notify.settings import DEFAULT_PLAYBOOKS

BOOK = load_playbooks(DEFAULT_PLAYBOOKS)
NOON_SHANGHAI = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # outside the default quiet hours
GRACE = timedelta(minutes=10)
POLICY = Policy()
UNKNOWN = CustomerProfile("c1")  # notify's row exists (the trigger made it); no profile yet


def _entered_development(at: datetime = NOON_SHANGHAI) -> Trigger:
    return Trigger(
        TriggerKind.STAGE_ENTERED, "c1", "t1", at, stage="development", from_stage="acquisition"
    )


def _wait(profile_at: datetime | None = None, received: datetime = NOON_SHANGHAI) -> AddressWait:
    return AddressWait(NOON_SHANGHAI, received, profile_at, GRACE)


def test_a_welcome_planned_before_the_profile_waits_for_the_address() -> None:
    planned = plan(
        _entered_development(), BOOK, UNKNOWN, NOON_SHANGHAI, address_grace=GRACE, profile_at=None
    )
    welcome = next(p for p in planned if p.step.name == "welcome")
    assert (welcome.status, welcome.reason) == ("scheduled", AWAITING_ADDRESS)
    assert welcome.due_at == NOON_SHANGHAI + GRACE  # re-decided by the sender then, or sooner


def test_without_a_grace_plan_decides_as_before() -> None:
    welcome = plan(_entered_development(), BOOK, UNKNOWN, NOON_SHANGHAI)[0]
    assert (welcome.status, welcome.reason) == ("suppressed", "no_address:email")


def test_a_due_step_without_a_profile_is_deferred_until_the_grace_ends() -> None:
    later = NOON_SHANGHAI + timedelta(minutes=3)
    decision = decide(Channel.EMAIL, UNKNOWN, [], later, POLICY, _wait())
    assert decision == Defer(NOON_SHANGHAI + GRACE, AWAITING_ADDRESS)


def test_once_the_grace_is_over_a_missing_address_suppresses() -> None:
    at_end = NOON_SHANGHAI + GRACE
    assert decide(Channel.EMAIL, UNKNOWN, [], at_end, POLICY, _wait()) == Suppress(
        "no_address:email"
    )


def test_the_address_arriving_in_the_grace_sends_under_the_usual_rules() -> None:
    arrived = CustomerProfile("c1", email="a@example.com")
    later = NOON_SHANGHAI + timedelta(minutes=1)
    assert decide(Channel.EMAIL, arrived, [], later, POLICY, _wait(later)) == Send()
    opted_out = CustomerProfile("c1", email="a@example.com", consent={"email": False})
    assert decide(Channel.EMAIL, opted_out, [], later, POLICY, _wait(later)) == Suppress(
        "opted_out:email"
    )
    late_evening = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
    deferred = decide(Channel.EMAIL, arrived, [], late_evening, POLICY, _wait(later))
    assert isinstance(deferred, Defer) and deferred.reason == "quiet_hours"


def test_a_profile_known_long_before_the_trigger_without_the_address_suppresses_at_once() -> None:
    known = NOON_SHANGHAI - timedelta(days=30)
    assert decide(Channel.SMS, UNKNOWN, [], NOON_SHANGHAI, POLICY, _wait(known)) == Suppress(
        "no_address:sms"
    )


def test_a_profile_seen_just_before_the_trigger_may_still_bring_the_address() -> None:
    just_before = NOON_SHANGHAI - timedelta(minutes=1)
    decision = decide(Channel.SMS, UNKNOWN, [], NOON_SHANGHAI, POLICY, _wait(just_before))
    assert decision == Defer(NOON_SHANGHAI + GRACE, AWAITING_ADDRESS)


def test_a_trigger_arriving_late_gets_the_full_grace_from_its_arrival() -> None:
    arrived = NOON_SHANGHAI + timedelta(minutes=30)  # the lifecycle consumer lagged
    wait = _wait(received=arrived)
    assert decide(Channel.EMAIL, UNKNOWN, [], arrived, POLICY, wait) == Defer(
        arrived + GRACE, AWAITING_ADDRESS
    )
    planned = plan(
        _entered_development(), BOOK, UNKNOWN, arrived, address_grace=GRACE, profile_at=None
    )
    welcome = next(p for p in planned if p.step.name == "welcome")
    assert (welcome.reason, welcome.due_at) == (AWAITING_ADDRESS, arrived + GRACE)


def test_a_staff_task_needs_no_customer_address() -> None:
    assert decide(Channel.WEBHOOK, UNKNOWN, [], NOON_SHANGHAI, POLICY, _wait()) == Send()
