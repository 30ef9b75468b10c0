"""The in-order path's Python alone: decode a checkpoint, fold one later event, encode it.

Run: .venv/bin/python -m bench.lifecycle_fold [--customers 1500 --events 10]
No database, no Kafka: each customer's events (purchases in event-time order) are folded one
at a time into its checkpoint, round-tripped through the stored JSON as the service does, and
the CPU per folded event of this process is printed. Steadier than `bench.lifecycle_engine`
on a shared machine, so before/after comparisons of the engine are made with it.
"""

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson

from services.lifecycle.adapters.snapshot_codec import checkpoint_from_json, checkpoint_to_json
from services.lifecycle.domain import (
    CustomerFacts,
    DomainEvent,
    EventType,
    apply_all,
    derive_resuming,
    load_rules,
)
from services.lifecycle.domain.engine import fold_later_facts
from services.lifecycle.settings import DEFAULT_RULES


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_500)
    parser.add_argument("--events", type=int, default=10, help="per customer")
    args = parser.parse_args()
    rules = load_rules(DEFAULT_RULES)
    rng = random.Random(1)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    customers = []
    for c in range(args.customers):
        year = 365 * 24 * 60
        times = sorted(start + timedelta(minutes=rng.randrange(year)) for _ in range(args.events))
        customers.append(
            [
                DomainEvent(
                    f"e{c}-{i}",
                    EventType.PURCHASE,
                    f"c{c}",
                    at,
                    {
                        "order_id": f"o{c}-{i}",
                        "amount": Decimal(rng.randrange(1, 500)),
                        "currency": "CNY",
                    },
                )
                for i, at in enumerate(times)
            ]
        )
    cpu0, folded = time.process_time(), 0
    for events in customers:
        customer_id = events[0].customer_id
        facts = apply_all(CustomerFacts(customer_id), events[:1])
        _, checkpoint = derive_resuming(facts, rules, events[0].occurred_at, None)
        assert checkpoint is not None
        text = orjson.dumps(checkpoint_to_json(checkpoint))
        for event in events[1:]:
            stored = checkpoint_from_json(orjson.loads(text), rules)
            assert stored is not None
            later = apply_all(CustomerFacts(customer_id), [event])
            result = fold_later_facts(later, rules, event.occurred_at + timedelta(hours=1), stored)
            assert result is not None, "every event here is in order"
            text = orjson.dumps(checkpoint_to_json(result.checkpoint))
            folded += 1
    per_event = (time.process_time() - cpu0) / folded
    print(f"lifecycle fold: {folded:,} in-order events, {per_event * 1e6:.0f} us CPU per event")


if __name__ == "__main__":
    main()
