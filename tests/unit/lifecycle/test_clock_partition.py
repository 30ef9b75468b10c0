"""`next_clock` asks only the clocks that can be due in the customer's stage: the partition
it relies on must hold for every state, or a due clock would be skipped."""

from collections import deque
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.lifecycle.domain import load_rules
from services.lifecycle.domain.business_rules import Thresholds
from services.lifecycle.domain.customer_state import CustomerState
from services.lifecycle.domain.engine import _ACTIVE_ONLY, _CLOCKS, Clock
from services.lifecycle.domain.spend import QuarterlySpend, TrailingSpend
from services.lifecycle.domain.stages import Reason, Stage
from services.lifecycle.settings import DEFAULT_RULES

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def busy_state(stage: Stage, r: Thresholds) -> CustomerState:
    """Every input a due time reads is set, so only the stage can make one None."""
    trailing = TrailingSpend(r.tier_window)
    quarterly = QuarterlySpend(r.growth_factor, r.growth_quarters, r.calendar)
    for days, amount in ((0, "100"), (95, "300"), (190, "900")):
        trailing.add(T0 + timedelta(days=days), Decimal(amount))
        quarterly.add(T0 + timedelta(days=days), Decimal(amount))
    return CustomerState(
        first_seen_at=T0,
        t=T0 + timedelta(days=200),
        trailing=trailing,
        quarterly=quarterly,
        stage=stage,
        stage_since=T0,
        first_purchase_at=None if stage is Stage.ACQUISITION else T0,
        last_purchase_at=None if stage is Stage.ACQUISITION else T0 + timedelta(days=190),
        occasion_days=[(T0 + timedelta(days=d)).date() for d in (0, 95, 190)],
        gaps=[95, 95],
        new_category_at=T0 + timedelta(days=190),
        complaints=deque([T0 + timedelta(days=199)] * 5),
        at_risk=(Reason.COMPLAINTS,),
        upgrade=(Reason.SPEND_GROWTH, Reason.NEW_CATEGORY),
    )


@pytest.mark.parametrize("stage", list(Stage))
def test_only_the_clocks_of_the_stage_can_be_due(stage: Stage) -> None:
    r = Thresholds.of(load_rules(DEFAULT_RULES))
    s = busy_state(stage, r)
    for clock, due in _CLOCKS:
        if s.active and clock is Clock.EARLY_ABORT:
            assert due(s, r) is None
        if not s.active and clock in _ACTIVE_ONLY:
            assert due(s, r) is None, clock
    if s.active:  # the state is busy enough that the active-only clocks are really asked
        assert all(
            due(s, r) is not None
            for clock, due in _CLOCKS
            if clock in _ACTIVE_ONLY and clock is not Clock.LONG_LASTING
        )
