"""Which pending messages a batch's customer events and corrections cancel, and why."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

RETRACTED = "trigger_retracted"


@dataclass(frozen=True)
class Pending:
    """A scheduled message as far as cancelling it goes."""

    id: str
    customer_id: str
    occurrence_id: str
    trigger_at: datetime
    cancel_on: Collection[str]  # the customer event types its playbook named when scheduled


@dataclass(frozen=True)
class Cancellation:
    """What one observation cancels among its customer's pending messages."""

    customer_id: str
    reason: str
    retracts: str | None = None  # a correction: the trigger occurrence that never happened
    event: str | None = None  # a customer event type: cancels the playbooks that name it ...
    at: datetime | None = None  # ... whose trigger occurred no later than the event

    @classmethod
    def retraction(cls, customer_id: str, occurrence_id: str) -> Cancellation:
        return cls(customer_id, RETRACTED, retracts=occurrence_id)

    @classmethod
    def by_event(cls, customer_id: str, event: str, at: datetime) -> Cancellation:
        return cls(customer_id, f"cancelled_by:{event}", event=event, at=at)

    def covers(self, message: Pending) -> bool:
        if message.customer_id != self.customer_id:
            return False
        if self.retracts is not None:
            return message.occurrence_id == self.retracts
        return (
            self.event in message.cancel_on
            and self.at is not None
            and message.trigger_at <= self.at
        )


def cancelled(
    requests: Sequence[Cancellation], pending: Iterable[Pending]
) -> list[tuple[Pending, int]]:
    """Each pending message covered by a request, with the first such request (its index):
    in the batch's order, as if each request ran on what the ones before it left pending.
    Ordered by request, then message id."""
    by_customer: dict[str, list[Pending]] = defaultdict(list)
    for message in sorted(pending, key=lambda m: m.id):
        by_customer[message.customer_id].append(message)
    taken: set[str] = set()
    out: list[tuple[Pending, int]] = []
    for index, request in enumerate(requests):
        for message in by_customer.get(request.customer_id, ()):
            if message.id not in taken and request.covers(message):
                taken.add(message.id)
                out.append((message, index))
    return out
