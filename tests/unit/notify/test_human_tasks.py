"""Issue 16.1b: who gets a human. High value is relative to the business (tier A), not an
absolute CLV; each account-manager queue takes a daily number of tasks, the most valuable
first, and the overflow is recorded with its reason."""

from datetime import UTC, datetime

from services.notify.domain import CustomerProfile, Trigger, TriggerKind, load_playbooks, plan
from services.notify.domain.task_queues import Candidate, allocate
from services.notify.domain.triggers import score_triggers
from services.notify.settings import DEFAULT_PLAYBOOKS

BOOK = load_playbooks(DEFAULT_PLAYBOOKS)
NOW = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


def _human_tasks(trigger: Trigger, profile: CustomerProfile) -> list[str]:
    return [
        p.playbook.name
        for p in plan(trigger, BOOK, profile, NOW)
        if p.step.channel.value == "webhook" and p.status == "scheduled"
    ]


def test_a_clv_above_an_absolute_number_no_longer_calls_an_account_manager() -> None:
    profile = CustomerProfile("c1", tier="C")
    triggers = score_triggers("c1", {"clv": None}, {"clv": 103_752.0}, "e1", NOW)
    assert [t for t in triggers for _ in _human_tasks(t, profile)] == []


def test_entering_tier_a_calls_an_account_manager() -> None:
    trigger = Trigger(TriggerKind.TIER_ENTERED, "c1", "t1", NOW, tier="A")
    assert _human_tasks(trigger, CustomerProfile("c1", tier="A")) == ["became_high_value"]
    lower = Trigger(TriggerKind.TIER_ENTERED, "c1", "t2", NOW, tier="B")
    assert _human_tasks(lower, CustomerProfile("c1", tier="B")) == []


def test_every_human_task_step_has_a_queue_with_a_daily_capacity() -> None:
    queues = {q.name: q for q in BOOK.policy.task_queues}
    for playbook in BOOK.playbooks:
        for step in playbook.steps:
            if step.channel.value == "webhook":
                assert step.task_queue in queues, (playbook.name, step.name)
    assert queues["account_managers"].daily_capacity >= 1


def test_a_full_queue_takes_the_most_valuable_and_records_the_rest_as_overflow() -> None:
    candidates = [
        Candidate("m1", "account_managers", 10.0),
        Candidate("m2", "account_managers", 900.0),
        Candidate("m3", "account_managers", None),  # no score yet: last
        Candidate("m4", "account_managers", 500.0),
        Candidate("m5", "key_accounts", 1.0),
    ]
    taken, overflow = allocate(
        candidates,
        used={"account_managers": 1},
        capacity={"account_managers": 3, "key_accounts": 5},
    )
    assert taken == ["m2", "m4", "m5"]
    assert overflow == {"m1": "queue_full:account_managers", "m3": "queue_full:account_managers"}


def test_a_queue_without_a_capacity_takes_everything() -> None:
    taken, overflow = allocate([Candidate("m1", "other", 1.0)], used={}, capacity={})
    assert taken == ["m1"] and overflow == {}
