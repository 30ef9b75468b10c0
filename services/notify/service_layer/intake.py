"""Use case: turn a batch of observations into scheduled, suppressed and cancelled messages.

A batch's customers split into concurrent transactions; in each, dedup rows, customer state,
new messages, cancellations and their outbox records commit together. The unique occurrence
key makes a redelivered trigger a no-op.
"""

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from services.notify.adapters import store
from services.notify.adapters.notifications import enqueue_decisions
from services.notify.domain import (
    CustomerProfile,
    PlannedStep,
    PlaybookBook,
    Trigger,
    plan,
    playbooks_for,
)
from services.notify.domain.cancellations import Cancellation, cancelled
from services.notify.domain.customers import merge_profile
from services.notify.domain.holdout import CONTROL_GROUP
from services.notify.domain.keys import coupon_code, message_id
from services.notify.domain.triggers import match_key, score_triggers
from services.notify.service_layer.metrics import DECISIONS
from shared.batch_parts import split_by_customer
from shared.dedup import keep_new
from shared.erasure import default_secret, drop_erased
from shared.events import CustomerEvent
from shared.kafka_consumer import Decoded, Poison
from shared.logging import get_logger, record_fields

from .observations import Observation, observe_customer_event

SERVICE = "notify"
log = get_logger(__name__)
Clock = Callable[[], datetime]


def message_row(
    planned: PlannedStep, trigger: Trigger, now: datetime, coupon_secret: str
) -> dict[str, Any]:
    playbook, step = planned.playbook, planned.step
    customer = trigger.customer_id
    coupon = (
        coupon_code(coupon_secret, playbook.name, customer, trigger.occurrence_id)
        if step.coupon
        else None
    )
    return {
        "id": message_id(playbook.name, customer, trigger.occurrence_id, step.name),
        "playbook": playbook.name,
        "step": step.name,
        "repeat": 0,
        "customer_id": customer,
        "occurrence_id": trigger.occurrence_id,
        "trigger_kind": trigger.kind.value,
        "trigger_at": trigger.occurred_at,
        "channel": step.channel.value,
        "template": step.template,
        "status": planned.status,
        "reason": planned.reason,
        "due_at": planned.due_at,
        "attempts": 0,
        "cancel_on": list(playbook.cancel_on),
        "coupon": coupon,
        "context": dict(trigger.context),
        "history": [{"status": planned.status, "reason": planned.reason, "at": now.isoformat()}],
        "created_at": now,
        "updated_at": now,
    }


class Intake:
    def __init__(
        self,
        engine: AsyncEngine,
        book: PlaybookBook,
        clock: Clock,
        coupon_secret: str,
        dedup_owner: str = SERVICE,  # the state owner, not the group: every group shares it
        outbox_service: str = SERVICE,
        erasure_secret: str | None = None,
        address_grace: timedelta | None = None,
        transactions_per_batch: int = 2,
    ) -> None:
        self._engine = engine
        self._transactions = transactions_per_batch
        self._address_grace = address_grace  # None: a missing address suppresses at once
        self._erasure_secret = erasure_secret or default_secret()
        self._book = book
        self._clock = clock
        self._coupon_secret = coupon_secret
        self._dedup_owner = dedup_owner
        self._outbox_service = outbox_service

    async def handle_changes(self, batch: list[Decoded[Observation]]) -> list[Poison]:
        observations = [d.message for d in batch]
        await self.observe(observations, f"{self._dedup_owner}:lifecycle", _Traces(batch))
        return []

    async def handle_events(self, batch: list[Decoded[CustomerEvent]]) -> list[Poison]:
        observations = [observe_customer_event(d.message) for d in batch]
        await self.observe(observations, f"{self._dedup_owner}:events", _Traces(batch))
        return []

    async def handle_scores(self, batch: list[Decoded[Observation]]) -> list[Poison]:
        observations = [d.message for d in batch]
        await self.observe(observations, f"{self._dedup_owner}:scores", _Traces(batch))
        return []

    async def handle_segments(self, batch: list[Decoded[Observation]]) -> list[Poison]:
        observations = [d.message for d in batch]
        await self.observe(observations, f"{self._dedup_owner}:segments", _Traces(batch))
        return []

    async def observe(
        self,
        observations: Sequence[Observation],
        consumer: str,
        traces: Mapping[str, str | None] | None = None,
    ) -> int:
        """Applies the observations; returns how many messages were newly decided.
        `traces` maps observation ids to the trace id their record carried (for the logs).

        Split by customer into concurrent transactions (`shared/batch_parts.py`): only what
        one customer's observations decide depends on each other."""
        parts = split_by_customer(
            observations, lambda o: o.customer_id, lambda o: o.event_id, self._transactions
        )
        if len(parts) <= 1:
            return await self._observe_part(observations, consumer, traces)
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(
                    self._observe_part([o for os in part.values() for o in os], consumer, traces)
                )
                for part in parts
            ]
        return sum(task.result() for task in tasks)

    async def _observe_part(
        self,
        observations: Sequence[Observation],
        consumer: str,
        traces: Mapping[str, str | None] | None,
    ) -> int:
        """`observe` for whole customers, in one transaction."""
        async with self._engine.begin() as conn:
            observations = await drop_erased(  # nothing about erased customers comes back
                conn, observations, lambda o: o.customer_id, self._erasure_secret, SERVICE
            )
            todo = await keep_new(conn, consumer, observations, lambda o: o.event_id)
            if not todo:
                return 0
            now = self._clock()
            read: set[str] = set()  # customers whose profile this batch reads
            may_repeat: set[str] = set()  # ... and who may start a once-per-customer playbook
            starting: dict[tuple[object, ...], tuple[bool, bool]] = {}  # few kinds per batch
            needs = [_needs(o, self._book, starting) for o in todo]
            for o, (_, reads, once) in zip(todo, needs, strict=True):
                if reads:
                    read.add(o.customer_id)
                if once:
                    may_repeat.add(o.customer_id)
            state = await store.lock_profiles(conn, (o.customer_id for o in todo), read)
            once_playbooks = [p.name for p in self._book.playbooks if p.once_per_customer]
            had = await store.playbooks_had(conn, may_repeat, once_playbooks)
            rows: list[dict[str, Any]] = []
            causes: dict[str, Observation] = {}  # message id -> the observation deciding it
            requests: list[Cancellation] = []
            requested_by: list[Observation] = []  # the observation of each request
            changed: set[str] = set()  # customers whose profile this batch changes
            profiled: set[str] = set()  # ... by a profile event (an address may have come)
            for o, (starts, _, _) in zip(todo, needs, strict=True):
                profile, profile_at = state.get(
                    o.customer_id, (CustomerProfile(o.customer_id), None)
                )
                if o.profile is not None:
                    profile, profile_at = merge_profile(
                        profile, o.profile, o.occurred_at, profile_at
                    )
                    profiled.add(o.customer_id)
                if o.stage is not None:
                    profile = _replace(profile, stage=o.stage)
                if o.tier is not None:
                    profile = _replace(profile, tier=o.tier)
                # a trigger that starts no playbook plans nothing: plan() is not asked
                triggers = [o.trigger] if o.trigger is not None and starts else []
                if o.scores is not None:
                    triggers += score_triggers(
                        o.customer_id, profile.scores, o.scores, o.event_id, o.occurred_at
                    )
                    profile = _replace(profile, scores={**profile.scores, **o.scores})
                if (o.profile, o.stage, o.tier, o.scores) != (None, None, None, None):
                    changed.add(o.customer_id)
                state[o.customer_id] = (profile, profile_at)
                for trigger in triggers:
                    customer_had = had.setdefault(o.customer_id, set())
                    planned = [
                        message_row(p, trigger, now, self._coupon_secret)
                        for p in plan(
                            trigger,
                            self._book,
                            profile,
                            now,
                            customer_had,
                            self._address_grace,
                            profile_at,
                        )
                    ]
                    rows += planned
                    causes.update((r["id"], o) for r in planned)
                    # a second trigger in this batch sees what this one scheduled
                    customer_had.update(
                        r["playbook"]
                        for r in planned
                        if r["status"] == "scheduled" or r["reason"] == CONTROL_GROUP
                    )
                if o.retracts:
                    requests.append(Cancellation.retraction(o.customer_id, o.retracts))
                    requested_by.append(o)
                if o.cancel_event:
                    requests.append(
                        Cancellation.by_event(o.customer_id, o.cancel_event, o.occurred_at)
                    )
                    requested_by.append(o)
            inserted = await store.insert_messages(conn, rows)
            decided = [(m, m["status"], m["reason"]) for m in inserted]
            # A step awaiting its address is due again now that a profile came: the sender
            # decides it with the profile (after this commit), not when the grace ends.
            await store.wake_awaiting_address(conn, profiled, now)
            # After the inserts: a message this batch scheduled is cancelled by an event in it.
            chosen = cancelled(requests, await store.pending_cancellable(conn, requests))
            gone = await store.cancel_messages(
                conn, {m.id: requests[i].reason for m, i in chosen}, now
            )
            for m, i in chosen:
                if m.id in gone:
                    decided.append((gone[m.id], "cancelled", requests[i].reason))
                    causes[m.id] = requested_by[i]
            await store.save_profiles(conn, [store.profile_row(*state[c]) for c in sorted(changed)])
            await store.insert_outcomes(conn, [_outcome_row(o) for o in todo if o.outcome])
            await enqueue_decisions(conn, self._outbox_service, decided, now)
        _log_decisions(decided, causes, {} if traces is None else traces)
        return len(decided)


def _outcome_row(o: Observation) -> dict[str, Any]:
    return {
        "event_id": o.event_id,
        "customer_id": o.customer_id,
        "occurred_at": o.occurred_at,
        **(o.outcome or {}),
    }


def _needs(
    o: Observation, book: PlaybookBook, starting: dict[tuple[object, ...], tuple[bool, bool]]
) -> tuple[bool, bool, bool]:
    """Whether the observation's trigger starts a playbook; whether deciding it needs its
    customer's profile (it changes it, or starts a playbook, whose steps depend on tier,
    consent and address); whether it may start a once-per-customer one (score changes: maybe).
    `starting` memoises, by what a playbook's trigger matches on (`match_key`), whether a
    trigger starts any playbook and any once-per-customer one."""
    starts, once = False, o.scores is not None
    if o.trigger is not None:
        key = match_key(o.trigger)
        if key not in starting:
            found = playbooks_for(o.trigger, book)
            starting[key] = (bool(found), any(p.once_per_customer for p in found))
        starts, once_here = starting[key]
        once = once or once_here
    changes = (o.profile, o.stage, o.tier, o.scores) != (None, None, None, None)
    return starts, changes or starts, once


class _Traces(Mapping[str, str | None]):
    """The trace id (ce_traceparent) of the record each event id came in, by event id: read
    from the record only for the ids asked for (the decisions' log lines), not for all."""

    def __init__(self, batch: Sequence[Decoded[Any]]) -> None:
        self._records = {d.message.event_id: d.record for d in batch}

    def __getitem__(self, event_id: str) -> str | None:
        record = self._records[event_id]
        return record_fields(record.key, record.headers)["trace_id"]

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)


def _log_decisions(
    decided: Sequence[tuple[dict[str, Any], str, str]],
    causes: Mapping[str, Observation],
    traces: Mapping[str, str | None],
) -> None:
    """Counted in clm_notify_decisions_total; each line (naming the customer, the event that
    decided it and that event's trace) at debug: a replay suppresses thousands of stale
    triggers a minute, and a line each flooded the logs. The lines' fields (a trace id is
    parsed from its record's headers) are built only when debug lines are written."""
    counts = Counter((message["channel"], status) for message, status, _ in decided)
    for (channel, status), n in counts.items():
        DECISIONS.labels(channel, status).inc(n)
    if not _debug_enabled():
        return
    for message, status, reason in decided:
        cause = causes.get(message["id"])
        event_id = cause.event_id if cause else None
        log.debug(
            f"message_{status}",
            customer_id=message["customer_id"],
            event_id=event_id,
            trace_id=traces.get(event_id) if event_id else None,
            message_id=message["id"],
            playbook=message["playbook"],
            step=message["step"],
            channel=message["channel"],
            reason=reason,
        )


def _debug_enabled() -> bool:
    # structlog's filtering loggers answer; any other kind of logger is assumed to write them
    enabled = getattr(log, "is_enabled_for", None)
    return True if enabled is None else bool(enabled(logging.DEBUG))


def _replace(profile: CustomerProfile, **changes: Any) -> CustomerProfile:
    from dataclasses import replace

    return replace(profile, **changes)
