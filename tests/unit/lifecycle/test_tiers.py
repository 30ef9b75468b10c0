from decimal import Decimal

from services.lifecycle.domain.rules import LifecycleRules, TierRules
from services.lifecycle.domain.stages import Reason, Tier
from services.lifecycle.domain.transitions import CLOCK
from tests.unit.lifecycle.story import Story, day


def tier_rows(state):
    return [
        (t.from_tier, t.to_tier, t.occurred_at, t.reason, t.cause_event_id)
        for t in state.history
        if t.kind == "tier"
    ]


def test_tiers_by_trailing_annual_spend():
    story = Story()
    story.purchase(0, amount="999999.99")
    assert story.at(1).tier is Tier.C
    story.purchase(10, amount="0.01", event_id="to-b")
    assert story.at(11).tier is Tier.B
    story.purchase(20, amount="4000000", event_id="to-a")
    state = story.at(21)
    assert state.tier is Tier.A
    assert state.trailing_spend == Decimal("5000000.00")
    assert tier_rows(state) == [
        (Tier.C, Tier.B, day(10), Reason.TRAILING_SPEND_INCREASED, "to-b"),
        (Tier.B, Tier.A, day(20), Reason.TRAILING_SPEND_INCREASED, "to-a"),
    ]


def test_tiers_decay_as_the_trailing_window_moves():
    story = Story()
    story.purchase(0, amount="4000000")
    story.purchase(100, amount="1500000")
    assert story.at(364.99).tier is Tier.A
    assert story.at(365).tier is Tier.B
    state = story.at(500)
    assert state.tier is Tier.C
    assert state.total_spend == Decimal("5500000")
    assert tier_rows(state)[2:] == [
        (Tier.A, Tier.B, day(365), Reason.TRAILING_SPEND_DECREASED, CLOCK),
        (Tier.B, Tier.C, day(465), Reason.TRAILING_SPEND_DECREASED, CLOCK),
    ]


def test_tier_thresholds_are_settable():
    rules = LifecycleRules(tiers=TierRules(a_min_spend=Decimal(1000), b_min_spend=Decimal(100)))
    story = Story()
    story.purchase(0, amount="150")
    assert story.at(1, rules).tier is Tier.B
    story.purchase(2, amount="900")
    assert story.at(3, rules).tier is Tier.A
