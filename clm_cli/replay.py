"""Rebuilding the lifecycle state from the event topic: reset its group, truncate its tables.

The dry run predicts the outcome without touching anything: the stored facts of every
customer are exactly what a replay would rebuild, so re-deriving them with the rules in
force now tells which customers would end up in another stage.
"""

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from aiokafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from clm_cli.errors import CliError
from clm_cli.kafka_ops import consumer, partitions_of
from clm_cli.settings import CliSettings
from services.lifecycle.adapters.state_store import facts_with_rows
from services.lifecycle.adapters.tables import customers, fact_rows, watermark
from services.lifecycle.domain import CustomerFacts, derive, load_rules
from services.lifecycle.domain.event_clock import customer_moment
from services.lifecycle.service_layer.processing import SERVICE as LIFECYCLE_DEDUP_OWNER
from services.lifecycle.settings import ClockMode, LifecycleSettings
from shared.db import make_engine
from shared.dedup import processed_events
from shared.erasure import PSEUDONYM_PREFIX

# Everything lifecycle derives from the events (the replay consumes them again from the start):
# partition clocks left behind would move the clock to the old log end at the first batch.
TABLES = (
    "lifecycle_customers",
    "lifecycle_transitions",
    "lifecycle_facts",
    "lifecycle_contact_keys",
    "lifecycle_watermark",
    "lifecycle_partition_clocks",
)


@dataclass
class StageForecast:
    customers: int = 0
    unreadable: int = 0
    aggregates_dropped: int = 0  # anonymous aggregates of erased customers: a replay drops them
    moves: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def changing(self) -> int:
        return sum(self.moves.values())


def lifecycle_settings() -> LifecycleSettings:
    return LifecycleSettings()


def _engine(settings: CliSettings) -> AsyncEngine:
    return make_engine(settings.database_url, pool_size=2)


def _db_unreachable(settings: CliSettings, exc: Exception) -> CliError:
    where = settings.database_url.rsplit("@", 1)[-1]
    return CliError(f"The database at {where} is not reachable ({type(exc).__name__}).")


async def forecast(
    settings: CliSettings,
    now: datetime | None = None,
    on_total: Callable[[int], None] = lambda n: None,
    on_derived: Callable[[int], None] = lambda n: None,
) -> StageForecast:
    life = lifecycle_settings()
    rules = load_rules(life.rules_path, life.business_timezone)
    engine = _engine(settings)
    result = StageForecast()
    try:
        async with engine.connect() as conn:
            clock = now or await _clock(conn, life)
            on_total(int(await conn.scalar(sa.select(sa.func.count()).select_from(customers)) or 0))
            later = (  # the events appended after the facts document (0015_h12)
                sa.select(sa.func.array_agg(fact_rows.c.body))
                .where(fact_rows.c.customer_id == customers.c.customer_id)
                .scalar_subquery()
            )
            rows = await conn.stream(
                sa.select(customers.c.customer_id, customers.c.stage, customers.c.facts, later)
                .order_by(customers.c.customer_id)
                .execution_options(yield_per=1000)
            )
            async for chunk in rows.partitions(1000):
                for customer_id, stage, raw, appended in chunk:
                    result.customers += 1
                    try:
                        facts = facts_with_rows(customer_id, raw, appended or ())
                        if _anonymous_aggregate(customer_id, facts):
                            result.aggregates_dropped += 1
                            continue
                        state = derive(facts, rules, _moment(life, clock, facts))
                    except ValueError:
                        result.unreadable += 1
                        continue
                    if state.stage.value != stage:
                        result.moves[(stage, state.stage.value)] += 1
                on_derived(len(chunk))
    except (OSError, OperationalError, DBAPIError) as exc:
        raise _db_unreachable(settings, exc) from exc
    finally:
        await engine.dispose()
    return result


def _anonymous_aggregate(customer_id: str, facts: CustomerFacts) -> bool:
    # Erasure keeps the state columns under a pseudonym and empties the facts: there is
    # nothing to re-derive, and no event of the erased id is ever consumed again.
    return customer_id.startswith(PSEUDONYM_PREFIX) and facts.first_seen is None


async def _clock(conn: AsyncConnection, life: LifecycleSettings) -> datetime:
    """The service's clock: the wall clock, or in backfill mode the event-time watermark."""
    if life.clock is ClockMode.EVENT_TIME:
        mark = await conn.scalar(sa.select(watermark.c.event_time).where(watermark.c.id == 1))
        if mark is not None:
            return mark.astimezone(UTC)
    return datetime.now(UTC)


def _moment(life: LifecycleSettings, clock: datetime, facts: CustomerFacts) -> datetime:
    """The moment the service derives the customer at (see `LifecycleProcessor._moment`)."""
    if life.clock is not ClockMode.EVENT_TIME:
        return clock
    ahead = timedelta(seconds=life.event_time_max_ahead_seconds)
    return customer_moment(clock, facts, datetime.now(UTC) + ahead)


async def replay(settings: CliSettings) -> tuple[int, int]:
    """Truncates the lifecycle tables and rewinds its consumer group, as one step: the
    offsets are reset inside the open database transaction, which commits only after the
    reset succeeded. Returns (customers removed, partitions rewound)."""
    life = lifecycle_settings()
    engine = _engine(settings)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("SET LOCAL lock_timeout = '5s'"))
            removed = int(await conn.scalar(sa.select(sa.func.count()).select_from(customers)) or 0)
            await conn.execute(sa.text(f"TRUNCATE {', '.join(TABLES)}"))
            await conn.execute(
                sa.delete(processed_events).where(
                    processed_events.c.consumer == LIFECYCLE_DEDUP_OWNER
                )
            )
            rewound = await rewind_group(
                settings.kafka_bootstrap_servers, life.consumer_group, life.events_topic
            )
    except (OSError, OperationalError) as exc:
        raise _db_unreachable(settings, exc) from exc
    except DBAPIError as exc:
        raise CliError(
            "The lifecycle tables could not be truncated (another session holds them); "
            "stop every lifecycle instance and retry."
        ) from exc
    finally:
        await engine.dispose()
    return removed, rewound


async def rewind_group(bootstrap: str, group: str, topic: str) -> int:
    async with consumer(bootstrap, group) as kafka:
        tps = await partitions_of(kafka, topic)
        kafka.assign(tps)
        starts = await kafka.beginning_offsets(tps)
        try:
            await asyncio.wait_for(kafka.commit(dict(starts)), 30)
        except (KafkaError, TimeoutError) as exc:
            raise CliError(
                f"Kafka refused to reset group {group} ({type(exc).__name__}); "
                "is a lifecycle instance still consuming?"
            ) from exc
    return len(tps)
