"""Use case: pick due messages (FOR UPDATE SKIP LOCKED), decide, deliver, record the outcome.

A claimed message is marked `sending` with a lease before delivery starts and committed, so
no other instance takes it; the outcome is written afterwards. If the instance dies between
the two, the lease expires and the message is marked failed (in doubt), never sent twice.
"""

import asyncio
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.notify.adapters import store
from services.notify.adapters.channels import ChannelAdapter, DeliveryError, Outgoing
from services.notify.adapters.notifications import enqueue_decisions
from services.notify.domain import (
    AddressWait,
    Channel,
    CustomerProfile,
    Defer,
    Playbook,
    PlaybookBook,
    Step,
    Suppress,
    TemplateBook,
    decide,
)
from services.notify.domain.keys import message_id
from services.notify.domain.repeats import Entry, NextRepeat, next_repeat, why_repeat_stops
from services.notify.domain.retries import retry_delay
from services.notify.domain.task_queues import Candidate, allocate, business_day_start
from shared.logging import get_logger

from .intake import SERVICE
from .metrics import DECISIONS

log = get_logger(__name__)
Clock = Callable[[], datetime]
Decided = tuple[dict[str, Any], str, str]


def repeat_row(
    message: Mapping[str, Any], playbook: Playbook, step: Step, nxt: NextRepeat, now: datetime
) -> dict[str, Any]:
    """The next message of a repeating step: same occurrence, its own repeat number and key."""
    reason = f"repeat:{nxt.repeat}"
    return {
        "id": message_id(
            playbook.name, message["customer_id"], message["occurrence_id"], step.name, nxt.repeat
        ),
        "playbook": playbook.name,
        "step": step.name,
        "repeat": nxt.repeat,
        "customer_id": message["customer_id"],
        "occurrence_id": message["occurrence_id"],
        "trigger_kind": message["trigger_kind"],
        "trigger_at": message["trigger_at"],
        "channel": step.channel.value,
        "template": step.template,
        "status": "scheduled",
        "reason": reason,
        "due_at": nxt.due_at,
        "attempts": 0,
        "cancel_on": list(playbook.cancel_on),
        "coupon": message.get("coupon"),
        "context": dict(message.get("context") or {}),
        "history": [{"status": "scheduled", "reason": reason, "at": now.isoformat()}],
        "created_at": now,
        "updated_at": now,
    }


@dataclass(frozen=True)
class SenderConfig:
    batch_size: int = 200
    concurrency: int = 32
    lease: timedelta = timedelta(minutes=5)
    max_attempts: int = 6
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    address_grace: timedelta | None = None  # None: a missing address suppresses at once


class Sender:
    def __init__(
        self,
        engine: AsyncEngine,
        book: PlaybookBook,
        templates: TemplateBook,
        channels: Mapping[Channel, ChannelAdapter],
        clock: Clock,
        config: SenderConfig,
        outbox_service: str = SERVICE,
        rng: random.Random | None = None,
    ) -> None:
        self._engine = engine
        self._book = book
        self._templates = templates
        self._channels = channels
        self._clock = clock
        self._config = config
        self._outbox_service = outbox_service
        self._rng = rng or random.Random()
        self._slots = asyncio.Semaphore(config.concurrency)
        self._cap_horizon = max((c.window for c in book.policy.caps), default=timedelta(0))

    async def run_once(self) -> int:
        """Handles up to one batch of due messages; returns how many it claimed."""
        await self._expire_in_doubt()
        now = self._clock()
        deliveries: list[tuple[dict[str, Any], Outgoing]] = []
        async with self._engine.begin() as conn:
            due = await store.claim_due(conn, now, self._config.batch_size)
            if not due:
                return 0
            customers = {m["customer_id"] for m in due}
            # Before reading recent sends: another sender may be deciding for these customers.
            await store.lock_customers(conn, customers)
            profiles = await store.load_profiles(conn, customers)
            overflow = await self._fill_task_queues(conn, due, profiles, now)
            recent = await store.recent_sends(conn, customers, now - self._cap_horizon)
            latest = await store.latest_entries(
                conn, ((m["customer_id"], m["playbook"]) for m in due if self._repeating(m))
            )
            updates: list[dict[str, Any]] = []
            decided: list[Decided] = []
            for message in due:
                profile, profile_at = profiles.get(message["customer_id"], (None, None))
                profile = profile or CustomerProfile(message["customer_id"])
                stop = self._why_repeat_stops(message, profile, latest)
                if stop is not None:
                    updates.append(
                        store.message_update(message, now, status="cancelled", reason=stop)
                    )
                    decided.append((message, "cancelled", stop))
                    continue
                channel = Channel(message["channel"])
                sends = recent[(profile.customer_id, channel.value)]
                decision = decide(
                    channel, profile, sends, now, self._book.policy, self._wait(message, profile_at)
                )
                if message["id"] in overflow and not isinstance(decision, Suppress):
                    decision = Suppress(overflow[message["id"]])
                if isinstance(decision, Suppress):
                    updates.append(
                        store.message_update(
                            message, now, status="suppressed", reason=decision.reason
                        )
                    )
                    decided.append((message, "suppressed", decision.reason))
                    continue
                if isinstance(decision, Defer):
                    updates.append(
                        store.message_update(
                            message, now, due_at=decision.until, reason=decision.reason
                        )
                    )
                    decided.append(
                        ({**message, "due_at": decision.until}, "deferred", decision.reason)
                    )
                    continue
                try:
                    outgoing = self._compose(message, profile, channel)
                except (KeyError, ValueError) as exc:  # template gone or broken since scheduling
                    reason = f"render_failed: {exc}"
                    updates.append(
                        store.message_update(message, now, status="failed", reason=reason)
                    )
                    decided.append((message, "failed", reason))
                    continue
                sends.append(now)
                updates.append(
                    store.message_update(
                        message,
                        now,
                        status="sending",
                        reason="sending",
                        lease_until=now + self._config.lease,
                        attempts=message["attempts"] + 1,
                        locale=outgoing.locale,
                        subject=outgoing.subject,
                    )
                )
                claimed = {
                    **message,
                    "attempts": message["attempts"] + 1,
                    "locale": outgoing.locale,
                    "subject": outgoing.subject,
                }
                deliveries.append((claimed, outgoing))
            await store.update_messages(conn, updates)
            decided += await self._schedule_repeats(conn, decided, now)
            await enqueue_decisions(conn, self._outbox_service, decided, now)
        self._count(decided)
        if deliveries:
            outcomes = await asyncio.gather(*(self._deliver(m, o) for m, o in deliveries))
            await self._record(outcomes)
        return len(due)

    def _wait(self, message: Mapping[str, Any], profile_at: datetime | None) -> AddressWait | None:
        grace = self._config.address_grace
        if grace is None:
            return None
        return AddressWait(message["trigger_at"], message["created_at"], profile_at, grace)

    async def _fill_task_queues(
        self,
        conn: AsyncConnection,
        due: list[dict[str, Any]],
        profiles: Mapping[str, tuple[CustomerProfile | None, Any]],
        now: datetime,
    ) -> dict[str, str]:
        """Which due human tasks overflow today's queue capacity (id -> reason)."""
        candidates = []
        for message in due:
            queue = self._book.task_queue_of(message["playbook"], message["step"])
            if queue is None:
                continue
            profile = profiles.get(message["customer_id"], (None, None))[0]
            value = profile.scores.get("clv") if profile else None
            candidates.append(Candidate(message["id"], queue, value))
        if not candidates:
            return {}
        await store.lock_task_queues(conn)
        policy = self._book.policy
        taken = await store.tasks_taken_since(conn, business_day_start(now, policy))
        used: dict[str, int] = {}
        for (playbook, step), count in taken.items():
            queue = self._book.task_queue_of(playbook, step)
            if queue is not None:
                used[queue] = used.get(queue, 0) + count
        _, overflow = allocate(candidates, used, policy.queue_capacity)
        return overflow

    def _compose(
        self, message: dict[str, Any], profile: CustomerProfile, channel: Channel
    ) -> Outgoing:
        context = profile.context(self._book.policy) | {
            "coupon": message.get("coupon"),
            "playbook": message["playbook"],
            "step": message["step"],
            **(message.get("context") or {}),
        }
        rendered = self._templates.render(message["template"], profile.locale, context)
        return Outgoing(
            message_id=message["id"],
            customer_id=message["customer_id"],
            channel=channel.value,
            to=profile.address(channel) or "",
            subject=rendered.subject,
            body=rendered.body,
            locale=rendered.locale,
            playbook=message["playbook"],
            step=message["step"],
            details={
                "customer": {
                    "name": profile.name,
                    "email": profile.email,
                    "phone": profile.phone,
                    "tier": profile.tier,
                    "stage": profile.stage,
                },
                "coupon": message.get("coupon"),
                "occurrence_id": message["occurrence_id"],
            },
        )

    async def _deliver(
        self, message: dict[str, Any], outgoing: Outgoing
    ) -> tuple[dict[str, Any], str | DeliveryError]:
        async with self._slots:
            try:
                return message, await self._channels[Channel(message["channel"])].send(outgoing)
            except DeliveryError as exc:
                return message, exc
            except Exception as exc:  # an adapter bug must not leave the message in flight
                log.exception("delivery_crashed", message_id=message["id"])
                return message, DeliveryError(f"{type(exc).__name__}: {exc}", transient=True)

    async def _record(self, outcomes: list[tuple[dict[str, Any], str | DeliveryError]]) -> None:
        now = self._clock()
        updates, decided = [], []
        for message, outcome in outcomes:
            if isinstance(outcome, str):
                updates.append(
                    store.message_update(
                        message, now, status="sent", reason="delivered", sent_at=now,
                        lease_until=None, provider_response=outcome,
                    )
                )  # fmt: skip
                decided.append((message, "sent", "delivered"))
            elif outcome.transient and message["attempts"] < self._config.max_attempts:
                delay = retry_delay(
                    message["attempts"],
                    self._config.retry_base_seconds,
                    self._config.retry_max_seconds,
                    self._rng,
                )
                reason = f"retrying: {outcome.response}"
                updates.append(
                    store.message_update(
                        message, now, status="scheduled", reason=reason, due_at=now + delay,
                        lease_until=None, provider_response=outcome.response,
                    )
                )  # fmt: skip
                decided.append(({**message, "due_at": now + delay}, "retrying", reason))
            else:
                kind = "transient, retries exhausted" if outcome.transient else "permanent"
                reason = f"failed ({kind}): {outcome.response}"
                updates.append(
                    store.message_update(
                        message, now, status="failed", reason=reason, lease_until=None,
                        provider_response=outcome.response,
                    )
                )  # fmt: skip
                decided.append((message, "failed", reason))
        pause = 0.2
        for attempt in range(8):  # the deliveries happened: keep trying to record them
            try:
                async with self._engine.begin() as conn:
                    await store.update_messages(conn, updates)
                    repeats = await self._schedule_repeats(conn, decided, now)
                    await enqueue_decisions(conn, self._outbox_service, decided + repeats, now)
                break
            except Exception as exc:
                if attempt == 7:
                    raise
                log.warning("record_outcome_retry", error=repr(exc))
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
        self._count(decided + repeats)

    async def _expire_in_doubt(self) -> None:
        now = self._clock()
        async with self._engine.begin() as conn:
            expired = await store.expire_in_doubt(conn, now)
            if expired:
                decided: list[Decided] = [(m, "failed", m["reason"]) for m in expired]
                decided += await self._schedule_repeats(conn, decided, now)
                await enqueue_decisions(conn, self._outbox_service, decided, now)
                log.warning("messages_in_doubt", count=len(expired))

    def _repeating(self, message: Mapping[str, Any]) -> tuple[Playbook, Step] | None:
        """The playbook and step of a message whose step (still) repeats, per the config."""
        playbook = self._book.get(message["playbook"])
        step = playbook.step(message["step"]) if playbook is not None else None
        if playbook is None or step is None or step.repeat_every is None:
            return None
        return playbook, step

    def _why_repeat_stops(
        self,
        message: Mapping[str, Any],
        profile: CustomerProfile,
        latest: Mapping[tuple[str, str], Entry],
    ) -> str | None:
        repeating = self._repeating(message)
        if repeating is None:
            return None
        playbook = repeating[0]
        entry = Entry(message["trigger_at"], message["occurrence_id"])
        newest = latest.get((message["customer_id"], playbook.name))
        return why_repeat_stops(playbook, profile.stage, entry, newest)

    async def _schedule_repeats(
        self, conn: AsyncConnection, decided: list[Decided], now: datetime
    ) -> list[Decided]:
        """Schedules the next repeat of each handled repeating message; the occurrence key
        (with the repeat number) makes a second scheduling of the same repeat a no-op."""
        rows = []
        for message, status, _ in decided:
            repeating = self._repeating(message)
            if repeating is None:
                continue
            playbook, step = repeating
            nxt = next_repeat(step, message["trigger_at"], message["repeat"], status, now)
            if nxt is not None:
                rows.append(repeat_row(message, playbook, step, nxt, now))
        inserted = await store.insert_messages(conn, rows)
        return [(m, "scheduled", m["reason"]) for m in inserted]

    @staticmethod
    def _count(decided: list[Decided]) -> None:
        """Counts the decisions; each one's line (with its customer) is at debug level, since
        a busy instance makes thousands a minute: the counter is the signal."""
        for message, status, reason in decided:
            DECISIONS.labels(message["channel"], status).inc()
            log.debug(
                f"message_{status}",
                customer_id=message["customer_id"],
                message_id=message["id"],
                occurrence_id=message["occurrence_id"],  # the transition, ticket or event id
                playbook=message["playbook"],
                step=message["step"],
                channel=message["channel"],
                reason=reason,
            )
