"""Outbox rows written directly equal what `shared.outbox` stores for the same records."""

from datetime import timedelta

import orjson

from services.lifecycle.adapters.change_events import to_outbox_rows, to_records
from services.lifecycle.domain import CustomerFacts, apply_all, changes_between, derive
from shared.outbox import outbox_rows
from tests.unit.lifecycle.story import DEFAULT_RULES, T0, Story


def test_direct_outbox_rows_equal_the_shared_outbox_rows_of_the_records():
    story = Story()
    early = [story.purchase(0), story.purchase(20), story.purchase(40)]
    first = derive(apply_all(CustomerFacts(story.customer_id), early), DEFAULT_RULES, T0)
    late = apply_all(CustomerFacts(story.customer_id), [*early, story.purchase(200)])
    second = derive(late, DEFAULT_RULES, T0 + timedelta(days=400))
    changes = changes_between(first.history, second.history, "late-1")
    changes += changes_between((), first.history)
    assert any(c.is_correction for c in changes) or len(changes) > 3

    expected = outbox_rows("lifecycle", to_records(changes))
    direct = to_outbox_rows(changes)
    assert [r["topic"] for r in expected] == ["clm.lifecycle-changes.v1"] * len(changes)
    assert [(key, value, orjson.loads(headers)) for key, value, headers in direct] == [
        (r["key"], r["value"], r["headers"]) for r in expected
    ]
