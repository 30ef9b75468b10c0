"""Calendar days and quarters are the business's (CLM_BUSINESS_TIMEZONE), not UTC's."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.lifecycle.domain.engine import derive
from services.lifecycle.domain.facts import CustomerFacts, DomainEvent, EventType, apply_all
from services.lifecycle.domain.rules import LifecycleRules, RulesError, load_rules
from services.lifecycle.domain.stages import Flag, Reason
from services.lifecycle.domain.transitions import CLOCK
from services.lifecycle.settings import DEFAULT_RULES

SHANGHAI = ZoneInfo("Asia/Shanghai")
IN_SHANGHAI = load_rules(DEFAULT_RULES, business_timezone="Asia/Shanghai")


def _purchases(*local: datetime, amounts: tuple[str, ...] = ()) -> CustomerFacts:
    events = [
        DomainEvent(
            f"p{i}", EventType.PURCHASE, "c1", at, {"amount": amounts[i] if amounts else "10"}
        )
        for i, at in enumerate(local)
    ]
    return apply_all(CustomerFacts("c1"), events)


def test_23_00_and_07_00_next_morning_local_are_two_occasions():
    # One UTC day (15:00 and 23:00 UTC on 1 March), two Shanghai days.
    facts = _purchases(
        datetime(2024, 3, 1, 23, tzinfo=SHANGHAI), datetime(2024, 3, 2, 7, tzinfo=SHANGHAI)
    )
    now = datetime(2024, 3, 3, tzinfo=SHANGHAI)
    assert derive(facts, IN_SHANGHAI, now).purchase_occasions == 2
    assert derive(facts, LifecycleRules(), now).purchase_occasions == 1  # UTC's calendar


def test_01_00_and_10_00_on_one_local_day_are_one_occasion():
    # Two UTC days (17:00 on 4 March and 02:00 on 5 March UTC), one Shanghai day.
    facts = _purchases(
        datetime(2024, 3, 5, 1, tzinfo=SHANGHAI), datetime(2024, 3, 5, 10, tzinfo=SHANGHAI)
    )
    now = datetime(2024, 3, 6, tzinfo=SHANGHAI)
    assert derive(facts, IN_SHANGHAI, now).purchase_occasions == 1
    assert derive(facts, LifecycleRules(), now).purchase_occasions == 2


def test_quarters_of_the_upgrade_trigger_start_at_local_midnight():
    facts = _purchases(
        *(datetime(2024, month, 15, 12, tzinfo=SHANGHAI) for month in (1, 4, 7)),
        amounts=("100", "120", "144"),
    )
    q4_local = datetime(2024, 10, 1, tzinfo=SHANGHAI)  # 2024-09-30 16:00 UTC
    state = derive(facts, IN_SHANGHAI, q4_local + timedelta(days=1))
    assert Flag.UPGRADE_CANDIDATE in state.flags
    [growth] = [t for t in state.history if t.flag is Flag.UPGRADE_CANDIDATE]
    assert (growth.occurred_at, growth.reason, growth.cause_event_id) == (
        q4_local,
        Reason.SPEND_GROWTH,
        CLOCK,
    )
    assert (
        Flag.UPGRADE_CANDIDATE
        not in derive(facts, IN_SHANGHAI, q4_local - timedelta(seconds=1)).flags
    )


def test_the_zone_is_part_of_the_rules_in_force_and_not_of_the_rules_file(tmp_path):
    assert IN_SHANGHAI.calendar.timezone == "Asia/Shanghai"
    assert LifecycleRules().calendar.timezone == "UTC"
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text("calendar: {timezone: Europe/Berlin}\n")
    with pytest.raises(RulesError, match="CLM_BUSINESS_TIMEZONE"):
        load_rules(rules_file)


def test_an_invalid_zone_name_is_refused_naming_it():
    with pytest.raises(RulesError, match="Mars/Base"):
        load_rules(DEFAULT_RULES, business_timezone="Mars/Base")
