"""The scale-out test's workload and its single-pass expectations (no services involved).

`publish_workload` and `expected_state` run in one worker process (a spawn pool of one), so
that generating, encoding and replaying 200,000 events neither blocks the test's event loop
nor counts against the services' CPU more than once: the events stay in `_WORKLOAD` between
the two calls.
"""

import asyncio
import random
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from clm_cli.demo_data import demo_events
from services.lifecycle.domain import CustomerFacts, DomainEvent, apply_all, derive, load_rules
from services.lifecycle.service_layer.processing import domain_event
from services.lifecycle.settings import DEFAULT_RULES
from services.notify.domain import CustomerProfile, PlaybookBook, load_playbooks, playbooks_for
from services.notify.domain.keys import message_id
from services.notify.service_layer.observations import (
    Observation,
    decode_lifecycle_change,
    observe_customer_event,
)
from services.notify.settings import DEFAULT_PLAYBOOKS
from shared.customer_event_codec import to_kafka_record
from shared.events import CustomerEvent, PurchaseEvent, customer_event_adapter
from shared.kafka_admin import ensure_topics, wait_for_broker
from shared.topics import TopicSpec, platform_topics

PARTITIONS = 12
# Notify's event intake is far slower than lifecycle's and scoring's (a database round trip per
# cancelling event: about 400 events/s here), so it reads the events of one customer in
# NOTIFY_SAMPLE from a topic of its own, beside every lifecycle change and score update.
NOTIFY_EVENTS_TOPIC = "clm.scale-out-test.notify-events"
NOTIFY_SAMPLE = 10
EVENTS_PER_CUSTOMER = 8.4  # what demo_events produces on average (measured: 84k per 10k)

# Lifecycle columns compared with a single pass of the pure domain over the same events.
LIFECYCLE_COLUMNS = (
    "stage",
    "stage_since",
    "flags",
    "tier",
    "lifecycle_pattern",
    "reactivations",
    "first_seen_at",
    "first_purchase_at",
    "last_purchase_at",
    "purchase_occasions",
    "total_spend",
)
LifecycleRow = tuple[Any, ...]


def sampled_for_notify(customer_id: str) -> bool:
    return zlib.crc32(customer_id.encode()) % NOTIFY_SAMPLE == 0


def scale_out_topics() -> list[TopicSpec]:
    return [*platform_topics(), TopicSpec(NOTIFY_EVENTS_TOPIC, {})]


@dataclass(frozen=True)
class Published:
    distinct: int
    records: int  # distinct events plus the repeats published again
    notify_distinct: int  # distinct events on NOTIFY_EVENTS_TOPIC


@dataclass(frozen=True)
class Expected:
    lifecycle: dict[str, LifecycleRow | None]
    # (customer, UTC day) -> (orders, amount): purchase occasions as scoring keeps them.
    occasions: dict[tuple[str, date], tuple[int, float]]
    purchases: int
    customers: set[str]
    event_messages: set[str]  # notify's messages decided from customer events


_WORKLOAD: list[CustomerEvent] = []


def make_events(n: int, seed: int, now: datetime) -> list[dict[str, Any]]:
    """n distinct demo events (purchases, contacts, complaints, profiles) of the days before now."""
    customers = int(n / EVENTS_PER_CUSTOMER * 1.1) + 10
    events = demo_events(customers, 730, seed, now)
    while len(events) < n:  # a seed that happens to yield fewer events: add customers
        customers = int(customers * 1.2)
        events = demo_events(customers, 730, seed, now)
    return events[:n]


def arrival_order(events: list[CustomerEvent], seed: int, repeats: int) -> list[CustomerEvent]:
    """Mostly in event-time order, but each event may arrive up to 20,000 places late, and
    `repeats` events are delivered a second time later on (a producer retrying)."""
    rng = random.Random(seed)
    order = sorted(range(len(events)), key=lambda i: i + rng.uniform(0, 20_000))
    out = [events[i] for i in order]
    for _ in range(repeats):
        at = rng.randrange(len(out))
        out.insert(rng.randrange(at, len(out) + 1), out[at])
    return out


async def _publish(bootstrap: str, topic: str, events: Sequence[CustomerEvent]) -> None:
    await wait_for_broker(bootstrap, 120)
    await ensure_topics(bootstrap, PARTITIONS, scale_out_topics())  # idempotent: first one creates
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", compression_type="lz4", linger_ms=20,
        max_batch_size=1024 * 1024,
    )  # fmt: skip
    await producer.start()
    try:
        pending = []
        for event in events:
            r = to_kafka_record(topic, event)
            pending.append(await producer.send(r.topic, r.value, key=r.key, headers=r.headers))
            if sampled_for_notify(event.customer_id):
                pending.append(
                    await producer.send(NOTIFY_EVENTS_TOPIC, r.value, key=r.key, headers=r.headers)
                )
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def publish_workload(
    bootstrap: str, topic: str, n: int, seed: int, now: datetime, repeats: int
) -> Published:
    """Generates n events, publishes them (with repeats, partly out of order); keeps them."""
    events = [customer_event_adapter.validate_python(e) for e in make_events(n, seed, now)]
    _WORKLOAD[:] = events
    asyncio.run(_publish(bootstrap, topic, arrival_order(events, seed, repeats)))
    return Published(
        distinct=len({e.event_id for e in events}),
        records=len(events) + repeats,
        notify_distinct=sum(1 for e in events if sampled_for_notify(e.customer_id)),
    )


def lifecycle_row(state: Any) -> LifecycleRow:
    return (
        state.stage.value,
        state.stage_since,
        sorted(f.value for f in state.flags),
        state.tier.value,
        state.lifecycle_pattern.value if state.lifecycle_pattern else None,
        state.reactivations,
        state.first_seen_at,
        state.first_purchase_at,
        state.last_purchase_at,
        state.purchase_occasions,
        state.total_spend,
    )


def expected_state(as_of: Mapping[str, datetime]) -> Expected:
    """One pass over the kept events: lifecycle by the pure domain, each customer at the clock
    the service last derived it at (`as_of`; customers the service lacks get None), scoring's
    occasions by its convention (one per customer and UTC day, amounts summed), and notify's
    messages triggered by the events it reads."""
    rules = load_rules(DEFAULT_RULES)
    by_customer: dict[str, list[DomainEvent]] = defaultdict(list)
    occasions: dict[tuple[str, date], tuple[int, float]] = {}
    purchases = 0
    for event in _WORKLOAD:
        by_customer[event.customer_id].append(domain_event(event))
        if isinstance(event, PurchaseEvent):
            purchases += 1
            key = (event.customer_id, event.occurred_at.astimezone(UTC).date())
            orders, amount = occasions.get(key, (0, 0.0))
            occasions[key] = (orders + 1, amount + float(event.data.amount))
    lifecycle: dict[str, LifecycleRow | None] = {}
    for customer, events in by_customer.items():
        clock = as_of.get(customer)
        facts = apply_all(CustomerFacts(customer), events)
        lifecycle[customer] = None if clock is None else lifecycle_row(derive(facts, rules, clock))
    book = load_playbooks(DEFAULT_PLAYBOOKS)
    return Expected(
        lifecycle,
        occasions,
        purchases,
        set(by_customer),
        event_message_ids((e for e in _WORKLOAD if sampled_for_notify(e.customer_id)), book),
    )


def change_message_ids(changes: Iterable[Any], book: PlaybookBook) -> set[str]:
    """The messages one notify instance decides from the lifecycle change records (in topic
    order): one per (playbook, customer, occurrence, step). Steps limited to tiers use the tier
    the topic had given the customer by then, as notify does (tier changes come only from this
    topic, in order per customer)."""
    ids: set[str] = set()
    tiers: dict[str, str] = {}
    seen: set[str] = set()
    for record in changes:
        o = decode_lifecycle_change(record)
        if o.event_id in seen:  # the relay may republish after a crash; notify dedups by id
            continue
        seen.add(o.event_id)
        if o.tier is not None:
            tiers[o.customer_id] = o.tier
        if o.trigger is not None:
            tier = tiers.get(o.customer_id, CustomerProfile(o.customer_id).tier)
            ids |= _message_ids(o, book, tier)
    return ids


def event_message_ids(events: Iterable[CustomerEvent], book: PlaybookBook) -> set[str]:
    """The messages decided from customer events (complaints opened and resolved, ...).
    Such playbooks must not have tiered steps, or the outcome would depend on how the events
    and changes topics interleave."""
    ids: set[str] = set()
    for event in events:
        o = observe_customer_event(event)
        if o.trigger is not None:
            for playbook in playbooks_for(o.trigger, book):
                assert all(s.tiers is None for s in playbook.steps), playbook.name
            ids |= _message_ids(o, book, None)
    return ids


def _message_ids(o: Observation, book: PlaybookBook, tier: str | None) -> set[str]:
    trigger = o.trigger
    assert trigger is not None
    return {
        message_id(playbook.name, o.customer_id, trigger.occurrence_id, step.name)
        for playbook in playbooks_for(trigger, book)
        for step in playbook.steps_for_tier(tier)  # type: ignore[arg-type]
    }
