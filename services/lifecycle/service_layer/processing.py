"""Use cases: apply a batch of customer events, and re-evaluate customers whose time came due.

Each runs in one database transaction: dedup rows, facts, derived state, transition log and
outbox rows commit together, so a crash anywhere leaves either all of it or none of it. A batch
of events is split by customer into parts that run as concurrent transactions (the offsets are
committed after all of them): while one waits on PostgreSQL, another derives.
"""

import asyncio
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.lifecycle.adapters import event_clock_store, state_store
from services.lifecycle.adapters.change_events import to_outbox_rows
from services.lifecycle.domain import (
    Change,
    Checkpoint,
    CustomerFacts,
    DomainEvent,
    EventType,
    LifecycleRules,
    Reason,
    apply,
    apply_all,
    changes_between,
    derive_by_clock,
    derive_resuming,
)
from services.lifecycle.domain.contact_keys import CONTACT_FIELDS, ContactKeys
from services.lifecycle.domain.engine import Folded, fold_later_facts
from services.lifecycle.domain.event_clock import NOT_STARTED, customer_moment, event_time_front
from services.lifecycle.domain.reporting import in_reporting_currency
from services.lifecycle.settings import ClockMode
from shared.batch_parts import split_by_customer
from shared.customer_event_codec import ConsumedRecord, decode_record
from shared.dedup import claim_new
from shared.erasure import default_secret, drop_erased
from shared.events import CustomerEvent, ProfileEvent
from shared.exchange_rates import RatesCache
from shared.gc_tuning import collection_paused
from shared.kafka_consumer import Decoded, Poison
from shared.logging import get_logger
from shared.money import ExchangeRates
from shared.partition_progress import batch_progress
from shared.topics import LIFECYCLE_CHANGES

SERVICE = "lifecycle"
SCORES_DEDUP_OWNER = "lifecycle-scores"  # score ids apart from client-chosen event ids
log = get_logger(__name__)
# Between this many customers a batch lets the event loop run (Kafka heartbeats, HTTP).
YIELD_EVERY = 500
# A part's customers are loaded, derived and saved this many at a time, in its transaction:
# memory then grows with this step times the parts, not with the batch (40,000 events may be
# 33,000 customers). bench/lifecycle.py at 1M/100k, one transaction per batch: 2,000 per step
# peaked at 298 MB, 1,000 at 256 MB; two transactions of 1,000 each peaked at 318 MB.
CUSTOMERS_PER_STEP = 500
Clock = Callable[[], datetime]


def decode(record: ConsumedRecord) -> DomainEvent:
    return domain_event(decode_record(record))


def domain_event(event: CustomerEvent) -> DomainEvent:
    """The validated event as the domain reads it: `data` as plain values, None fields left out."""
    if isinstance(event, ProfileEvent):  # profile values are kept in the facts as JSON
        data = event.data.model_dump(mode="json", exclude_none=True)
    else:  # the validated fields themselves (Decimal amounts, str enums): no dump per event
        data = {k: v for k, v in event.data.__dict__.items() if v is not None}
    return DomainEvent(event.event_id, event.type, event.customer_id, event.occurred_at, data)  # type: ignore[arg-type]


class LifecycleProcessor:
    def __init__(
        self,
        engine: AsyncEngine,
        rules: LifecycleRules,
        clock_mode: ClockMode,
        wall_clock: Clock = lambda: datetime.now(UTC),
        dedup_owner: str = SERVICE,  # the state owner, not the group: every group shares it
        outbox_service: str = SERVICE,
        erasure_secret: str | None = None,
        transactions_per_batch: int = 2,
        reporting_currency: str = "CNY",
        moves_clock: bool = True,
        event_time_max_ahead: timedelta = timedelta(hours=1),
    ) -> None:
        """`moves_clock`: whether the facts' times move the event-time clock (customer events
        do; score readings, dated by the scoring service's wall clock, only read it)."""
        self._engine = engine
        self._moves_clock = moves_clock
        self._max_ahead = event_time_max_ahead
        self._transactions = transactions_per_batch
        self._erasure_secret = erasure_secret or default_secret()
        self._rules = rules
        self._clock_mode = clock_mode
        self._wall_clock = wall_clock
        self._dedup_owner = dedup_owner
        self._outbox_service = outbox_service
        self._rates = RatesCache(reporting_currency)

    async def _now(self, conn: AsyncConnection) -> datetime | None:
        if self._clock_mode is ClockMode.EVENT_TIME:
            return await event_clock_store.advance_watermark(conn, None)  # reads it
        return self._wall_clock()

    async def _batch_clock(self, batch: list[Decoded[DomainEvent]]) -> datetime:
        if self._clock_mode is not ClockMode.EVENT_TIME:
            return self._wall_clock()
        front = None
        progress = batch_progress() if self._moves_clock else None
        latest: dict[int, datetime] = {}
        if self._moves_clock:
            times = [d.message.occurred_at for d in batch]
            front = event_time_front(times, self._wall_clock(), self._max_ahead)
            ahead = sum(1 for at in times if front is None or at > front)
            if ahead:
                log.warning("event_time_clock_ignored_future_events", events=ahead)
            if progress is not None and front is not None:
                for d in batch:  # what each partition brought (times past `front` left out)
                    at, partition = d.message.occurred_at, d.record.partition
                    if at <= front and (partition not in latest or at > latest[partition]):
                        latest[partition] = at
        # Its own short transaction: held to the batch's commit, the watermark row's lock
        # would make concurrent batches (other group members) wait for each other.
        async with self._engine.begin() as conn:
            if progress is None:  # a handler called directly: the batch is all there is
                now = await event_clock_store.advance_watermark(conn, front)
            else:
                now = await event_clock_store.advance_by_partitions(
                    conn, progress.topic, latest, progress.caught_up
                )
        return now or NOT_STARTED  # facts are kept even before the clock has started

    def _moment(self, now: datetime, facts: CustomerFacts) -> datetime:
        """When a customer is derived: `now`, or in event-time mode its own latest purchase or
        complaint when later (domain/event_clock.py)."""
        if self._clock_mode is not ClockMode.EVENT_TIME:
            return now
        return customer_moment(now, facts, self._wall_clock() + self._max_ahead)

    async def handle(self, batch: list[Decoded[DomainEvent]]) -> list[Poison]:
        with collection_paused():
            return await self._handle(batch)

    async def handle_scores(self, batch: list[Decoded[DomainEvent | None]]) -> list[Poison]:
        """Score updates: those that carry a churn-risk reading, as facts."""
        return await self.handle([Decoded(d.record, d.message) for d in batch if d.message])

    async def _handle(self, batch: list[Decoded[DomainEvent]]) -> list[Poison]:
        if not batch:
            return []
        now = await self._batch_clock(batch)
        parts = split_by_customer(
            batch, lambda d: d.message.customer_id, lambda d: d.message.event_id, self._transactions
        )
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(self._handle_part(part, now)) for part in parts]
        return [p for task in tasks for p in task.result()]

    async def _handle_part(
        self, by_customer: dict[str, list[Decoded[DomainEvent]]], now: datetime
    ) -> list[Poison]:
        """Part of a batch (its own customers and event ids) in one transaction."""
        items = [d for events in by_customer.values() for d in events]
        async with self._engine.begin() as conn:
            kept = await drop_erased(  # events of erased customers never restore their data
                conn, items, lambda d: d.message.customer_id, self._erasure_secret, SERVICE
            )
            fresh_ids = await claim_new(conn, self._dedup_owner, [d.message.event_id for d in kept])
            fresh: dict[str, list[Decoded[DomainEvent]]] = defaultdict(list)
            for d in kept:
                if d.message.event_id in fresh_ids:
                    fresh[d.message.customer_id].append(d)
            poison: list[Poison] = []
            customers = list(fresh)  # sorted, as the part is
            rates = await self._rates.current(conn) if customers else self._rates.cached()
            for start in range(0, len(customers), CUSTOMERS_PER_STEP):
                step = customers[start : start + CUSTOMERS_PER_STEP]
                poison += await self._apply(conn, {c: fresh[c] for c in step}, now, rates)
        return poison

    async def _apply(
        self,
        conn: AsyncConnection,
        by_customer: dict[str, list[Decoded[DomainEvent]]],
        now: datetime,
        rates: ExchangeRates,
    ) -> list[Poison]:
        """Folds, or loads, derives and saves, these customers (part of a batch, in its
        transaction).

        Amounts join the facts in the reporting currency; an event whose currency has no
        rate (ingest refuses those, so it came another way) is parked with its customer's."""
        checkpoints = await state_store.load_checkpoints(conn, list(by_customer), self._rules)
        changes: list[Change] = []
        folded: list[tuple[Folded, list[DomainEvent]]] = []
        replayed: dict[str, list[Decoded[DomainEvent]]] = {}
        for n, (customer_id, items) in enumerate(by_customer.items(), 1):
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            result = self._fold(customer_id, items, checkpoints.get(customer_id), now, rates)
            if result is None:
                replayed[customer_id] = items
            else:
                folded.append(result)
                changes += changes_between((), result[0].appended)
        await state_store.save_folded(conn, folded)
        poison, replay_changes = await self._replay(conn, replayed, now, rates)
        await self._record(conn, changes + replay_changes)
        return poison

    def _fold(
        self,
        customer_id: str,
        items: list[Decoded[DomainEvent]],
        checkpoint: Checkpoint | None,
        now: datetime,
        rates: ExchangeRates,
    ) -> tuple[Folded, list[DomainEvent]] | None:
        """The in-order case: the new events fold into the stored checkpoint (None: replay)."""
        if checkpoint is None:
            return None
        try:
            events = [in_reporting_currency(item.message, rates) for item in items]
            later = apply_all(CustomerFacts(customer_id), events)
            result = fold_later_facts(later, self._rules, self._moment(now, later), checkpoint)
        except ValueError:  # the replay parks what the rules cannot use
            return None
        return None if result is None else (result, events)

    async def _replay(
        self,
        conn: AsyncConnection,
        by_customer: dict[str, list[Decoded[DomainEvent]]],
        now: datetime,
        rates: ExchangeRates,
    ) -> tuple[list[Poison], list[Change]]:
        """Customers with an event that is not later than all they had: their facts are read,
        replayed from the nearest checkpoint, and rewritten with the history."""
        if not by_customer:
            return [], []
        stored = await state_store.load_for_update(conn, list(by_customer), self._rules)
        results: list[state_store.Derived] = []
        changes: dict[str, list[Change]] = {}
        poison: list[Poison] = []
        contact_keys: dict[str, ContactKeys] = {}
        for n, (customer_id, items) in enumerate(by_customer.items(), 1):
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            loaded = stored.get(customer_id)
            facts = loaded.facts if loaded else CustomerFacts(customer_id)
            try:
                for item in items:
                    facts = apply(facts, in_reporting_currency(item.message, rates))
                earlier = loaded.resume() if loaded else None
                moment = self._moment(now, facts)
                state, checkpoint = derive_resuming(facts, self._rules, moment, earlier)
            except ValueError as exc:  # facts the rules cannot use: park them, keep going
                poison += [Poison(item.record, f"ValueError: {exc}") for item in items]
                continue
            results.append(state_store.Derived(facts, state, checkpoint, loaded))
            if any(_sets_contact(item.message) for item in items):
                contact_keys[customer_id] = ContactKeys.of(
                    {name: value.value for name, value in facts.profile.items()}
                )
            history = loaded.history if loaded else ()
            cause, reason = _correction_cause(items, loaded.facts if loaded else None)
            changes[customer_id] = changes_between(history, state.history, cause, reason)
        taken = await state_store.save(conn, results)
        retried: list[Change] = []
        if taken:  # new customers another transaction stored meanwhile: again, on its rows
            for customer_id in taken:
                del changes[customer_id]
                contact_keys.pop(customer_id, None)
            again = {c: by_customer[c] for c in sorted(taken)}
            more_poison, retried = await self._replay(conn, again, now, rates)
            poison += more_poison
        if contact_keys:  # only profile events that name a contact field: rare, and cheap then
            await state_store.save_contact_keys(conn, contact_keys)
        return poison, [change for each in changes.values() for change in each] + retried

    async def evaluate_due(self, limit: int) -> int:
        """Re-derives customers whose next_due_at has passed; returns how many it evaluated."""
        with collection_paused():
            return await self._evaluate_due(limit)

    async def _evaluate_due(self, limit: int) -> int:
        async with self._engine.begin() as conn:
            now = await self._now(conn)
            if now is None:
                return 0
            due = await state_store.claim_due(conn, now, limit, self._rules)
            results: list[state_store.Derived] = []
            changes: list[Change] = []
            with_facts: list[str] = []  # customers the clock alone cannot move on
            for n, item in enumerate(due, 1):
                if n % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                by_clock = None
                if item.checkpoint is not None:
                    by_clock = derive_by_clock(
                        item.customer_id, item.first_seen_at, self._rules,
                        self._clock_moment(now, item.checkpoint), item.history, item.checkpoint,
                    )  # fmt: skip
                if by_clock is None:
                    with_facts.append(item.customer_id)
                    continue
                state, clock_checkpoint = by_clock
                loaded = item.as_stored()
                results.append(state_store.Derived(loaded.facts, state, clock_checkpoint, loaded))
                changes += changes_between(item.history, state.history)
            stored = (
                await state_store.load_for_update(conn, with_facts, self._rules)
                if with_facts
                else {}
            )
            for loaded in stored.values():
                moment = self._moment(now, loaded.facts)
                state, checkpoint = derive_resuming(
                    loaded.facts, self._rules, moment, loaded.resume()
                )
                results.append(state_store.Derived(loaded.facts, state, checkpoint, loaded))
                changes += changes_between(loaded.history, state.history)
            documents = {d.customer_id: d.document for d in due if d.document is not None}
            await state_store.save_evaluated(conn, results, documents)
            await self._record(conn, changes)
        return len(due)

    def _clock_moment(self, now: datetime, checkpoint: Checkpoint) -> datetime:
        """`_moment` of a customer whose facts are all folded into `checkpoint`: it resumes
        at its last fact or at its earlier moment, whichever is later (both bound the moment of
        its own purchases and complaints)."""
        if self._clock_mode is not ClockMode.EVENT_TIME:
            return now
        return max(now, checkpoint.resumes_at.t)

    async def _record(self, conn: AsyncConnection, changes: list[Change]) -> None:
        await state_store.record_changes(conn, changes)
        await state_store.enqueue(
            conn, self._outbox_service, LIFECYCLE_CHANGES, to_outbox_rows(changes)
        )


def _sets_contact(event: DomainEvent) -> bool:
    return event.type is EventType.PROFILE and any(f in event.data for f in CONTACT_FIELDS)


def _correction_cause(
    items: list[Decoded[DomainEvent]], earlier: CustomerFacts | None
) -> tuple[str, Reason]:
    """Who and why, for transitions a customer's new events retract: a refund, an update of
    an order already counted, or (otherwise) a late event."""
    for item in items:
        if item.message.type is EventType.REFUND:
            return item.message.event_id, Reason.ORDER_REFUNDED
    known = {p.order_id or e for e, p in earlier.purchases.items()} if earlier else set()
    for item in items:
        event = item.message
        if event.type is EventType.PURCHASE and event.data.get("order_id") in known:
            return event.event_id, Reason.ORDER_UPDATED
    return items[-1].message.event_id, Reason.LATE_EVENT_CORRECTION
