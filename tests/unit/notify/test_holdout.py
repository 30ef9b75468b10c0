"""Control groups: a stable, salted arm per customer and playbook; held-out decisions."""

from datetime import UTC, datetime

import pytest

from services.notify.domain import CustomerProfile, Trigger, TriggerKind, load_playbooks, plan
from services.notify.domain.holdout import CONTROL_GROUP, Arm, assign, bucket
from services.notify.settings import DEFAULT_PLAYBOOKS

NOON_SHANGHAI = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
CUSTOMERS = [f"c-{i}" for i in range(20_000)]


def test_the_arm_is_a_pure_function_of_customer_playbook_and_salt() -> None:
    arms = [assign(c, "churned", 0.2, 0.0, "s1") for c in CUSTOMERS[:500]]
    assert arms == [assign(c, "churned", 0.2, 0.0, "s1") for c in CUSTOMERS[:500]]
    # a known value: independent of the process (no salted hash()), so every instance agrees
    assert bucket("c-1", "churned", "s1") == bucket("c-1", "churned", "s1")
    assert bucket("c-1", "churned", "s1") != bucket("c-1", "churned", "s2")
    assert bucket("c-1", "churned", "s1") != bucket("c-1", "at_risk", "s1")


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5])
def test_the_held_out_share_is_the_configured_fraction(fraction: float) -> None:
    held = sum(assign(c, "churned", fraction, 0.0, "s") is Arm.CONTROL for c in CUSTOMERS)
    # binomial: 4 standard deviations of 20,000 draws
    sd = (len(CUSTOMERS) * fraction * (1 - fraction)) ** 0.5
    assert abs(held - fraction * len(CUSTOMERS)) <= 4 * sd


def test_the_global_control_group_is_held_out_of_every_playbook() -> None:
    held = {c for c in CUSTOMERS if assign(c, "churned", 0.0, 0.1, "s") is Arm.CONTROL}
    assert 1700 < len(held) < 2300
    assert held == {c for c in CUSTOMERS if assign(c, "at_risk", 0.0, 0.1, "s") is Arm.CONTROL}


def _book(fraction: float) -> object:
    book = load_playbooks(DEFAULT_PLAYBOOKS)
    playbooks = tuple(
        p.model_copy(update={"control_group": fraction}) if p.name == "churned" else p
        for p in book.playbooks
    )
    return book.model_copy(update={"playbooks": playbooks})


def _churn(customer: str) -> Trigger:
    return Trigger(
        TriggerKind.STAGE_ENTERED, customer, f"t-{customer}", NOON_SHANGHAI, stage="churn"
    )


def test_a_held_out_customer_gets_every_step_suppressed_as_control_group() -> None:
    book = _book(0.5)
    policy = book.policy  # type: ignore[attr-defined]
    held = next(
        c for c in CUSTOMERS if assign(c, "churned", 0.5, 0.0, policy.control_salt) is Arm.CONTROL
    )
    treated = next(
        c for c in CUSTOMERS if assign(c, "churned", 0.5, 0.0, policy.control_salt) is Arm.TREATMENT
    )
    profile = CustomerProfile(held, email="h@example.com", tier="A")
    steps = plan(_churn(held), book, profile, NOON_SHANGHAI)  # type: ignore[arg-type]
    assert [s.step.name for s in steps] == ["win_back_offer", "win_back_follow_up", "win_back_call"]
    assert {(s.status, s.reason) for s in steps} == {("suppressed", CONTROL_GROUP)}
    other = CustomerProfile(treated, email="t@example.com", tier="A")
    steps = plan(_churn(treated), book, other, NOON_SHANGHAI)  # type: ignore[arg-type]
    assert CONTROL_GROUP not in {s.reason for s in steps}
    assert steps[0].status == "scheduled"


def test_without_a_control_group_nobody_is_held_out() -> None:
    book = load_playbooks(DEFAULT_PLAYBOOKS)
    for customer in CUSTOMERS[:300]:
        profile = CustomerProfile(customer, email="x@example.com")
        steps = plan(_churn(customer), book, profile, NOON_SHANGHAI)
        assert CONTROL_GROUP not in {s.reason for s in steps}


def test_the_playbooks_file_names_each_share_and_refuses_a_bad_one() -> None:
    from services.notify.domain import PlaybookError, parse_playbooks

    raw = {
        "policy": {"global_control_group": 0.05, "control_salt": "q1"},
        "playbooks": [
            {
                "name": "p",
                "trigger": {"kind": "stage_entered", "stage": "churn"},
                "control_group": 0.2,
                "steps": [{"name": "s", "channel": "email", "template": "t"}],
            }
        ],
    }
    book = parse_playbooks(raw)
    assert book.playbooks[0].control_group == 0.2
    assert (book.policy.global_control_group, book.policy.control_salt) == (0.05, "q1")
    raw["playbooks"][0]["control_group"] = 1.5  # type: ignore[index]
    with pytest.raises(PlaybookError, match=r"playbooks\.0\.control_group"):
        parse_playbooks(raw)


def test_the_environment_overrides_the_files_global_group_and_salt() -> None:
    from services.notify.bootstrap import with_control_settings
    from services.notify.settings import NotifySettings

    book = load_playbooks(DEFAULT_PLAYBOOKS)
    assert with_control_settings(book, NotifySettings()) == book
    changed = with_control_settings(
        book, NotifySettings(global_control_group=0.1, control_salt="other")
    )
    assert (changed.policy.global_control_group, changed.policy.control_salt) == (0.1, "other")
