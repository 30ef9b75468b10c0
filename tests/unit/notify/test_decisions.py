"""decide() and plan(): consent, addresses, quiet hours, caps, tiers, staleness."""

from datetime import UTC, datetime, time, timedelta

from services.notify.domain import (
    Channel,
    CustomerProfile,
    Defer,
    Send,
    Suppress,
    Trigger,
    TriggerKind,
    decide,
    load_playbooks,
    parse_playbooks,
    plan,
)
from services.notify.domain.decisions import cancels
from services.notify.domain.playbooks import FrequencyCap, Policy, QuietHours
from services.notify.settings import DEFAULT_PLAYBOOKS

BOOK = load_playbooks(DEFAULT_PLAYBOOKS)
# 04:00 UTC = 12:00 in Shanghai: outside quiet hours for the default time zone.
NOON_SHANGHAI = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
POLICY = Policy(caps=(FrequencyCap(channel=Channel.EMAIL, limit=2, window=timedelta(hours=24)),))


def _customer(**kw: object) -> CustomerProfile:
    return CustomerProfile("c1", **({"email": "a@example.com", "phone": "+861380000"} | kw))  # type: ignore[arg-type]


def test_a_reachable_customer_gets_the_message() -> None:
    assert decide(Channel.EMAIL, _customer(), [], NOON_SHANGHAI, POLICY) == Send()


def test_opt_out_by_consent_or_preference_suppresses_with_the_reason() -> None:
    by_consent = _customer(consent={"email": False})
    assert decide(Channel.EMAIL, by_consent, [], NOON_SHANGHAI, POLICY) == Suppress(
        "opted_out:email"
    )
    by_preference = _customer(preferences={"sms": False})
    assert decide(Channel.SMS, by_preference, [], NOON_SHANGHAI, POLICY) == Suppress(
        "opted_out:sms"
    )


def test_a_preference_overrides_profile_consent() -> None:
    customer = _customer(consent={"email": False}, preferences={"email": True})
    assert decide(Channel.EMAIL, customer, [], NOON_SHANGHAI, POLICY) == Send()


def test_no_address_suppresses() -> None:
    customer = CustomerProfile("c1")
    assert decide(Channel.EMAIL, customer, [], NOON_SHANGHAI, POLICY) == Suppress(
        "no_address:email"
    )


def test_quiet_hours_defer_to_nine_in_the_customers_zone() -> None:
    late = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
    decision = decide(Channel.EMAIL, _customer(), [], late, POLICY)
    assert isinstance(decision, Defer)
    assert decision.reason == "quiet_hours"
    assert decision.until == datetime(2026, 3, 3, 1, 0, tzinfo=UTC)  # 09:00 next day, Shanghai


def test_quiet_hours_after_midnight_end_the_same_morning() -> None:
    early = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # 07:00 in Tokyo
    decision = decide(Channel.SMS, _customer(timezone="Asia/Tokyo"), [], early, POLICY)
    assert isinstance(decision, Defer)
    assert decision.until == datetime(2026, 3, 2, 0, 0, tzinfo=UTC) + timedelta(hours=24)


def test_quiet_hours_follow_the_customers_own_zone() -> None:
    # 22:30 in Shanghai is 15:30 in Berlin (CET): not quiet there.
    late = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    customer = _customer(timezone="Europe/Berlin")
    assert decide(Channel.EMAIL, customer, [], late, POLICY) == Send()


def test_quiet_hours_can_be_switched_off_or_not_span_midnight() -> None:
    late = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    off = Policy(quiet_hours=QuietHours(enabled=False))
    assert decide(Channel.EMAIL, _customer(), [], late, off) == Send()
    lunch = Policy(quiet_hours=QuietHours(start=time(12, 0), end=time(13, 0)))
    decision = decide(Channel.EMAIL, _customer(), [], NOON_SHANGHAI, lunch)
    assert isinstance(decision, Defer)
    assert decision.until == NOON_SHANGHAI + timedelta(hours=1)


def test_frequency_cap_counts_sends_in_the_window_only() -> None:
    recent = [NOON_SHANGHAI - timedelta(hours=1), NOON_SHANGHAI - timedelta(hours=2)]
    assert decide(Channel.EMAIL, _customer(), recent, NOON_SHANGHAI, POLICY) == Suppress(
        "frequency_cap:email:2/24h"
    )
    old = [NOON_SHANGHAI - timedelta(hours=25), NOON_SHANGHAI - timedelta(hours=1)]
    assert decide(Channel.EMAIL, _customer(), old, NOON_SHANGHAI, POLICY) == Send()
    assert decide(Channel.SMS, _customer(), recent, NOON_SHANGHAI, POLICY) == Send()


def test_staff_tasks_ignore_customer_rules() -> None:
    customer = CustomerProfile("c1", consent={"email": False})
    late = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    assert decide(Channel.WEBHOOK, customer, [], late, POLICY) == Send()


def _trigger(kind: TriggerKind, at: datetime, **kw: str) -> Trigger:
    return Trigger(kind, "c1", "occ-1", at, **kw)  # type: ignore[arg-type]


def test_entering_development_plans_the_four_activation_steps() -> None:
    trigger = _trigger(TriggerKind.STAGE_ENTERED, NOON_SHANGHAI, stage="development")
    planned = plan(trigger, BOOK, _customer(), NOON_SHANGHAI)
    assert [(p.step.name, p.due_at - NOON_SHANGHAI, p.status) for p in planned] == [
        ("welcome", timedelta(0), "scheduled"),
        ("usage_checklist", timedelta(days=3), "scheduled"),
        ("call_back", timedelta(days=7), "scheduled"),
        ("value_report", timedelta(days=30), "scheduled"),
    ]


def test_delays_count_from_when_the_trigger_occurred() -> None:
    trigger = _trigger(
        TriggerKind.STAGE_ENTERED, NOON_SHANGHAI - timedelta(days=1), stage="development"
    )
    planned = plan(trigger, BOOK, _customer(), NOON_SHANGHAI)
    assert planned[1].due_at == NOON_SHANGHAI + timedelta(days=2)


def test_an_opted_out_customer_has_the_immediate_step_suppressed_at_once() -> None:
    trigger = _trigger(TriggerKind.STAGE_ENTERED, NOON_SHANGHAI, stage="development")
    planned = plan(trigger, BOOK, _customer(consent={"email": False}), NOON_SHANGHAI)
    assert (planned[0].status, planned[0].reason) == ("suppressed", "opted_out:email")
    assert planned[1].status == "scheduled"  # decided when due: consent may change by then


def test_an_immediate_step_in_quiet_hours_is_deferred() -> None:
    late = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    trigger = _trigger(TriggerKind.STAGE_ENTERED, late, stage="development")
    welcome = plan(trigger, BOOK, _customer(), late)[0]
    assert (welcome.status, welcome.reason) == ("scheduled", "quiet_hours")
    assert welcome.due_at == datetime(2026, 3, 3, 1, 0, tzinfo=UTC)


def test_at_risk_tier_a_gets_a_human_task_instead_of_the_care_message() -> None:
    trigger = _trigger(TriggerKind.FLAG_SET, NOON_SHANGHAI, flag="at_risk")
    tier_a = plan(trigger, BOOK, _customer(tier="A"), NOON_SHANGHAI)
    tier_c = plan(trigger, BOOK, _customer(tier="C"), NOON_SHANGHAI)
    assert [(p.step.name, p.step.channel) for p in tier_a] == [
        ("account_manager_visit", Channel.WEBHOOK)
    ]
    assert [(p.step.name, p.step.channel) for p in tier_c] == [("care_message", Channel.EMAIL)]


def test_a_stale_trigger_is_suppressed() -> None:
    trigger = _trigger(TriggerKind.STAGE_ENTERED, NOON_SHANGHAI - timedelta(days=60), stage="churn")
    planned = plan(trigger, BOOK, _customer(), NOON_SHANGHAI)
    assert planned and all(p.reason == "stale_trigger" for p in planned)


def test_unrelated_triggers_plan_nothing() -> None:
    trigger = _trigger(TriggerKind.FLAG_CLEARED, NOON_SHANGHAI, flag="at_risk")
    assert plan(trigger, BOOK, _customer(), NOON_SHANGHAI) == []


def test_complaint_events_start_their_playbooks() -> None:
    opened = _trigger(TriggerKind.EVENT, NOON_SHANGHAI, event="complaint.opened")
    resolved = _trigger(TriggerKind.EVENT, NOON_SHANGHAI, event="complaint.resolved")
    assert [p.step.name for p in plan(opened, BOOK, _customer(), NOON_SHANGHAI)] == [
        "acknowledgement"
    ]
    assert [p.step.name for p in plan(resolved, BOOK, _customer(), NOON_SHANGHAI)] == [
        "follow_up",
        "satisfaction_survey",
    ]


def test_a_later_purchase_cancels_a_win_back() -> None:
    churned = BOOK.get("churned")
    assert churned is not None
    assert cancels(churned, "purchase", NOON_SHANGHAI, NOON_SHANGHAI - timedelta(days=1))
    assert not cancels(churned, "purchase", NOON_SHANGHAI - timedelta(days=2), NOON_SHANGHAI)
    assert not cancels(churned, "contact", NOON_SHANGHAI, NOON_SHANGHAI - timedelta(days=1))


def test_a_score_crossing_its_threshold_starts_the_playbook_once() -> None:
    from services.notify.domain.triggers import score_triggers

    # The default file calls a person on tier A (issue 16.1); the mechanism stays available.
    book = parse_playbooks(
        {
            "playbooks": [
                {
                    "name": "became_high_value",
                    "trigger": {"kind": "score_crossed", "score": "clv", "above": 5000},
                    "steps": [
                        {
                            "name": "introduce_account_manager",
                            "channel": "webhook",
                            "template": "high_value_task",
                        }
                    ],
                }
            ]
        }
    )

    def started(previous: dict[str, float | None], current: dict[str, float | None]) -> list[str]:
        triggers = score_triggers("c1", previous, current, "ev1", NOON_SHANGHAI)
        return [p.step.name for t in triggers for p in plan(t, book, _customer(), NOON_SHANGHAI)]

    assert started({"clv": 4000.0}, {"clv": 6000.0}) == ["introduce_account_manager"]
    assert started({}, {"clv": 6000.0}) == ["introduce_account_manager"]
    assert started({"clv": 5500.0}, {"clv": 6000.0}) == []  # already above: no new crossing
    assert started({"clv": 6000.0}, {"clv": 4000.0}) == []
    assert started({"clv": 4000.0}, {"clv": None}) == []


def test_below_thresholds_and_clv_bands() -> None:
    from services.notify.domain.playbooks import TriggerSpec

    falling = TriggerSpec.model_validate(
        {"kind": "score_crossed", "score": "p_alive", "below": 0.3}
    )
    assert falling.crossed(0.5, 0.2) and not falling.crossed(0.2, 0.1)
    # On the tiers' scale (A >= 5,000,000, B >= 1,000,000 a year), not 5,000 (issue 16).
    assert BOOK.policy.clv_band(6_000_000) == "high"
    assert BOOK.policy.clv_band(1_000_000) == "medium"
    assert BOOK.policy.clv_band(12_000) == "low"
    assert BOOK.policy.clv_band(None) is None
    profile = _customer(scores={"clv": 2_500_000.0})
    assert profile.context(BOOK.policy)["clv_band"] == "medium"
