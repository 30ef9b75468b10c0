"""Membership of 10 segments kept current while the pipeline's messages flow through audiences.

Run: make infra && .venv/bin/python -m bench.audiences_membership [--messages 40000 --customers 20000]

The stream: `--messages` records for random customers among `--customers`, encoded as their
producers publish them (CloudEvents binary mode): 60 % customer events (45 % purchases, 15 %
profiles with a locale and a plan attribute), 25 % lifecycle changes (stage, at_risk flag,
tier), 15 % score updates (CLV, churn risk, RFM segment). Each topic's records are decoded by
audiences' own decoders and handed to `Intake` in batches of 2,000 per topic (what its consumers
poll), the topics taking turns.

Two runs of the same stream shape, each on its own new customers:
- baseline: no segment of this bench: the view is kept (dedup rows, views; the database's
  other segments, if any, are evaluated as in production and counted below);
- 10 segments: stage, flags, tier, CLV, churn risk, RFM, purchase window, locale, a profile
  attribute, and a combination: each batch re-evaluates its customers in all of them and
  publishes every entry and exit through the outbox.
Printed: messages/s of each run, the ratio, and the customer events/s that rate sustains
(messages/s x 0.60, the customer events' share) beside the pipeline's sustained target of
2,000 customer events/s (README, "End-to-end latency"); then one time sweep (percentiles and
the window segment over every customer) in seconds. Removes its rows afterwards.
"""

import argparse
import asyncio
import os
import random
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from services.audiences.adapters.tables import audience_segments
from services.audiences.domain.customers import Update
from services.audiences.domain.filters import is_time_relative, parse_filter, uses_percentile
from services.audiences.service_layer.intake import Intake
from services.audiences.service_layer.observations import (
    decode_customer_event,
    decode_lifecycle_change,
    decode_scores,
)
from services.audiences.service_layer.sweeper import Sweeper
from shared.cloudevents import CloudEvent, to_kafka
from shared.customer_event_codec import to_kafka_record
from shared.db import make_engine
from shared.events import customer_event_adapter
from shared.topics import CUSTOMER_EVENTS, CUSTOMER_SCORES, LIFECYCLE_CHANGES

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql+asyncpg://clm:clm@127.0.0.1:55432/clm")
BATCH = 2000
EVENT_SHARE = 0.60
PIPELINE_EVENTS_PER_SECOND = 2000
STAGES = ("acquisition", "development", "maintenance", "churn")


def segments(run: str) -> dict[str, dict[str, Any]]:
    return {
        f"bm-{run}-churned": {"field": "stage", "eq": "churn"},
        f"bm-{run}-at-risk": {"field": "flags", "has": "at_risk"},
        f"bm-{run}-tier-a": {"field": "tier", "eq": "A"},
        f"bm-{run}-high-clv": {"field": "clv", "gte": 800},
        f"bm-{run}-risky": {"field": "churn_risk", "between": [0.6, 1]},
        f"bm-{run}-champions": {"field": "rfm_segment", "in": ["champions", "loyal"]},
        f"bm-{run}-recent": {"field": "last_purchase_at", "within_days": 30},
        f"bm-{run}-chinese": {"field": "locale", "prefix": "zh"},
        f"bm-{run}-gold": {"field": "attributes.plan", "eq": "gold"},
        f"bm-{run}-win-back": {
            "all": [
                {"field": "stage", "in": ["maintenance", "churn"]},
                {"field": "clv_percentile", "gte": 50},
                {"not": {"field": "last_purchase_at", "within_days": 60}},
            ]
        },
    }


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def make_stream(prefix: str, messages: int, customers: int, start: datetime) -> list[Record]:
    rng = random.Random(13)
    out: list[Record] = []
    for i in range(messages):
        customer = f"{prefix}{rng.randrange(customers)}"
        at = start + timedelta(milliseconds=i)
        roll = rng.random()
        if roll < 0.60:
            if roll < 0.45:
                kind = "purchase"
                data: dict[str, Any] = {"order_id": f"o{i}", "amount": "80.00", "currency": "CNY"}
                at -= timedelta(days=rng.randrange(90))  # some fall outside the 30-day window
            else:
                kind = "profile"
                data = {
                    "locale": rng.choice(["en", "zh-CN", "de-DE"]),
                    "attributes": {"plan": rng.choice(["gold", "silver"])},
                }
            event = customer_event_adapter.validate_python(
                {"event_id": f"{prefix}e{i}", "type": kind, "customer_id": customer,
                 "occurred_at": at.isoformat(), "data": data}
            )  # fmt: skip
            r = to_kafka_record(CUSTOMER_EVENTS, event)
        elif roll < 0.85:
            r = to_kafka(LIFECYCLE_CHANGES, _lifecycle(f"{prefix}l{i}", customer, at, rng))
        else:
            r = to_kafka(CUSTOMER_SCORES, _scores(f"{prefix}s{i}", customer, at, rng))
        out.append(Record(r.topic, r.key, r.value, list(r.headers)))
    return out


def _lifecycle(ce_id: str, customer: str, at: datetime, rng: random.Random) -> CloudEvent:
    kind = rng.choice(["stage", "stage", "flag", "tier"])
    data: dict[str, Any] = {
        "customer_id": customer, "from_stage": None, "to_stage": None, "flag": None,
        "flag_value": None, "occurred_at": at.isoformat(), "reason": "bench",
        "cause_event_id": ce_id, "transition_id": ce_id, "kind": kind, "from_tier": None,
        "to_tier": None, "retracts": None,
    }  # fmt: skip
    if kind == "stage":
        data |= {"from_stage": "development", "to_stage": rng.choice(STAGES)}
    elif kind == "flag":
        data |= {"flag": "at_risk", "flag_value": rng.random() < 0.5}
    else:
        data |= {"to_tier": rng.choice("ABC")}
    return CloudEvent(ce_id, "/clm/lifecycle", f"clm.lifecycle.{kind}_changed", customer, at, data)


def _scores(ce_id: str, customer: str, at: datetime, rng: random.Random) -> CloudEvent:
    risk = rng.random()
    data = {
        "customer_id": customer, "model_id": "bench", "p_alive": 1 - risk, "churn_risk": risk,
        "expected_purchases": 1.0, "expected_avg_spend": 80.0, "clv": rng.random() * 1000,
        "segment": rng.choice(["champions", "loyal", "at_risk", "lost"]),
        "health_score": rng.random() * 100, "horizon": 90.0, "time_unit": "day",
        "scored_at": at.isoformat(), "cause": "bench",
    }  # fmt: skip
    return CloudEvent(ce_id, "/clm/scoring", "clm.scoring.scores_updated", customer, at, data)


DECODERS = {
    CUSTOMER_EVENTS: decode_customer_event,
    LIFECYCLE_CHANGES: decode_lifecycle_change,
    CUSTOMER_SCORES: decode_scores,
}


def batches(records: list[Record]) -> list[list[Update]]:
    """Per topic, in order, cut into consumer-sized batches; the topics take turns."""
    per_topic = {t: [DECODERS[t](r) for r in records if r.topic == t] for t in DECODERS}
    cut = {t: [u[i : i + BATCH] for i in range(0, len(u), BATCH)] for t, u in per_topic.items()}
    out: list[list[Update]] = []
    for turn in range(max(len(c) for c in cut.values())):
        out += [c[turn] for c in cut.values() if turn < len(c)]
    return out


async def run_stream(intake: Intake, stream: list[list[Update]]) -> tuple[float, int]:
    began = time.perf_counter()
    changes = 0
    for batch in stream:
        changes += await intake.observe(batch, "audiences:bench")
    return time.perf_counter() - began, changes


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=40_000)
    parser.add_argument("--customers", type=int, default=20_000)
    args = parser.parse_args()
    run = secrets.token_hex(3)
    engine = make_engine(DATABASE_URL, 4)
    now = datetime.now(UTC)
    intake = Intake(engine, lambda: datetime.now(UTC))
    prefixes = {"baseline": f"bmb-{run}-", "10 segments": f"bms-{run}-"}
    defined = segments(run)
    try:
        async with engine.connect() as conn:
            others = await conn.scalar(sa.select(sa.func.count()).select_from(audience_segments))
        streams = {
            name: batches(make_stream(p, args.messages, args.customers, now))
            for name, p in prefixes.items()
        }
        print(f"{args.messages:,} messages for {args.customers:,} customers per run; "
              f"other segments in the database: {others}")  # fmt: skip
        print(f"\n{'run':14}{'seconds':>10}{'messages/s':>12}{'events/s':>10}{'changes':>10}")
        rates = {}
        for name, stream in streams.items():
            if name == "10 segments":
                async with engine.begin() as conn:
                    for segment, raw in defined.items():
                        parsed = parse_filter(raw)
                        await conn.execute(
                            audience_segments.insert().values(
                                name=segment, filter=raw, created_at=now, built_at=now,
                                time_relative=is_time_relative(parsed),
                                uses_percentile=uses_percentile(parsed),
                            )
                        )  # fmt: skip
            seconds, changes = await run_stream(intake, stream)
            rate = args.messages / seconds
            rates[name] = rate
            print(
                f"{name:14}{seconds:>10.2f}{rate:>12,.0f}{rate * EVENT_SHARE:>10,.0f}{changes:>10,}"
            )
        ratio = rates["10 segments"] / rates["baseline"]
        sustained = rates["10 segments"] * EVENT_SHARE
        print(f"\n10 segments / baseline: {ratio:.2f}x")
        ok = sustained >= PIPELINE_EVENTS_PER_SECOND
        print(f"customer events/s sustained with 10 segments: {sustained:,.0f} "
              f"(pipeline target {PIPELINE_EVENTS_PER_SECOND:,}: {'met' if ok else 'NOT met'})")  # fmt: skip
        began = time.perf_counter()
        await Sweeper(engine, lambda: datetime.now(UTC) + timedelta(days=1)).sweep_time()
        print(f"one time sweep (percentiles + window segments, a day later): "
              f"{time.perf_counter() - began:.2f} s")  # fmt: skip
        return 0 if ok else 1
    finally:
        async with engine.begin() as conn:
            names = list(defined)
            await conn.execute(
                sa.text("DELETE FROM audience_members WHERE segment = ANY(:s)"), {"s": names}
            )
            await conn.execute(
                sa.text("DELETE FROM audience_segments WHERE name = ANY(:s)"), {"s": names}
            )
            for prefix in prefixes.values():
                like = {"p": f"{prefix}%"}
                await conn.execute(
                    sa.text("DELETE FROM audience_customers WHERE customer_id LIKE :p"), like
                )
                await conn.execute(
                    sa.text("DELETE FROM audience_members WHERE customer_id LIKE :p"), like
                )
                await conn.execute(
                    sa.text(
                        "DELETE FROM outbox WHERE service = 'audiences' "
                        "AND convert_from(key, 'UTF8') LIKE :p"
                    ),
                    like,
                )
            await conn.execute(
                sa.text("DELETE FROM processed_events WHERE consumer = 'audiences:bench'")
            )
        await engine.dispose()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
