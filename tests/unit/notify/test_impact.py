"""Outcomes in the window, the arms compared, and seeded simulations: the 95 % intervals
recover a known uplift about 95 times in 100, and a playbook that does nothing shows no
significant uplift at the promised rate."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from services.notify.domain.holdout import Arm, assign
from services.notify.domain.impact import (
    Facts,
    Outcome,
    Purchase,
    StageChange,
    Unit,
    by_occurrence,
    compare,
    outcome,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW = timedelta(days=30)
COSTS = {"email": 0.01, "webhook": 20.0}
RUNS = 100


def test_outcomes_count_inside_the_window_only() -> None:
    facts = Facts(
        purchases=(
            Purchase(T0, 999.0),  # the trigger's own instant: not its outcome
            Purchase(T0 + timedelta(days=3), 40.0),
            Purchase(T0 + timedelta(days=30), 2.5),  # the window's last instant counts
            Purchase(T0 + timedelta(days=31), 100.0),
        ),
        stage_changes=(StageChange(T0 + timedelta(days=3), "churn", "development"),),
        opt_outs=(T0 + timedelta(days=40),),
    )
    found = outcome(T0, WINDOW, facts)
    assert found == Outcome(
        purchase=True, revenue=42.5, reactivation=True, stage_kept=False, opt_out=False
    )
    assert outcome(T0, WINDOW, Facts()) == Outcome(False, 0.0, False, True, False)


def _unit(i: int, arm: Arm, sent: bool, step: str = "offer", channel: str = "email") -> Unit:
    return Unit(f"c{i}", f"o{i}", step, channel, arm, T0, sent)


def test_incremental_revenue_per_message_and_per_cost_unit() -> None:
    bought = Outcome(True, 10.0, False, True, False)
    nothing = Outcome(False, 0.0, False, True, False)
    units = [(_unit(i, Arm.TREATMENT, True), bought if i < 4 else nothing) for i in range(8)]
    units += [(_unit(i, Arm.CONTROL, False), bought if i < 12 else nothing) for i in range(10, 18)]
    found = compare(units, T0 + timedelta(days=60), WINDOW, COSTS)
    t, c = found.treatment, found.control
    assert (t.eligible, c.eligible, t.messages_sent, c.messages_sent) == (8, 8, 8, 0)
    assert t.rates["purchase"] == 0.5 and c.rates["purchase"] == 0.25
    assert t.revenue_per_customer == 5.0 and c.revenue_per_customer == 2.5
    assert t.channel_cost == pytest.approx(0.08)
    assert found.incremental_revenue == pytest.approx(2.5 * 8)  # per-unit difference x treated
    assert found.incremental_revenue_per_message == pytest.approx(20.0 / 8)
    assert found.incremental_revenue_per_cost_unit == pytest.approx(20.0 / 0.08)
    assert found.differences["purchase"] is not None
    assert found.differences["purchase"].estimate == pytest.approx(0.25)
    assert t.open_windows == 0


def test_the_playbook_counts_each_occurrence_once_and_every_steps_messages() -> None:
    nothing = Outcome(False, 0.0, False, True, False)
    units = [
        (_unit(1, Arm.TREATMENT, True, "offer"), nothing),
        (_unit(1, Arm.TREATMENT, True, "call", "webhook"), nothing),
        (_unit(2, Arm.CONTROL, False, "offer"), nothing),
        (_unit(2, Arm.CONTROL, False, "call", "webhook"), nothing),
    ]
    found = compare(by_occurrence(units), T0, WINDOW, COSTS, [u for u, _ in units])
    assert (found.treatment.eligible, found.control.eligible) == (1, 1)
    assert found.treatment.messages_sent == 2
    assert found.treatment.channel_cost == pytest.approx(20.01)
    assert found.treatment.open_windows == 1  # the window ends after `now`


def _simulate(seed: int, p_control: float, uplift: float, revenue_uplift: float) -> object:
    """4,000 customers assigned by the real hash (salt per seed, 30 % held out); a purchase
    with probability p (+ uplift when treated); revenue exponential around 50 (+ uplift)."""
    rng = random.Random(seed)
    units = []
    for i in range(4000):
        customer = f"sim-{seed}-{i}"
        arm = assign(customer, "win_back", 0.3, 0.0, f"salt-{seed}")
        treated = arm is Arm.TREATMENT
        bought = rng.random() < p_control + (uplift if treated else 0.0)
        mean = 50.0 + (revenue_uplift if treated else 0.0)
        revenue = rng.expovariate(1 / mean) if bought else 0.0
        unit = Unit(customer, f"o-{i}", "offer", "email", arm, T0, treated)
        units.append((unit, Outcome(bought, revenue, False, True, False)))
    return compare(units, T0 + timedelta(days=60), WINDOW, COSTS)


def test_a_known_uplift_is_inside_the_interval_about_95_times_in_100() -> None:
    p, uplift, revenue_uplift = 0.10, 0.03, 10.0
    # true revenue per customer: p x mean -> (0.13 x 60) - (0.10 x 50) = 2.8
    true_revenue = (p + uplift) * (50 + revenue_uplift) - p * 50
    covered_rate = covered_revenue = detected = 0
    for seed in range(RUNS):
        found = _simulate(seed, p, uplift, revenue_uplift)
        rate = found.differences["purchase"]  # type: ignore[attr-defined]
        money = found.differences["revenue_per_customer"]  # type: ignore[attr-defined]
        covered_rate += rate.low <= uplift <= rate.high
        covered_revenue += money.low <= true_revenue <= money.high
        detected += rate.significant
    assert covered_rate >= 90, covered_rate
    assert covered_revenue >= 90, covered_revenue
    assert detected >= 60, detected  # and the uplift is usually seen at all (power)


def test_a_playbook_that_does_nothing_shows_no_uplift_at_the_promised_rate() -> None:
    significant_rate = significant_revenue = 0
    for seed in range(RUNS):
        found = _simulate(1000 + seed, 0.10, 0.0, 0.0)
        significant_rate += found.differences["purchase"].significant  # type: ignore[attr-defined]
        significant_revenue += found.differences["revenue_per_customer"].significant  # type: ignore[attr-defined]
    # a 95 % interval excludes a true zero in 5 of 100 runs on average
    assert significant_rate <= 10, significant_rate
    assert significant_revenue <= 10, significant_revenue
