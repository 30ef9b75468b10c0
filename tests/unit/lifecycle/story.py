"""Builds a customer's events on a day-numbered calendar starting at T0."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.lifecycle.domain.engine import LifecycleState, derive
from services.lifecycle.domain.facts import CustomerFacts, DomainEvent, EventType, apply_all
from services.lifecycle.domain.rules import LifecycleRules

T0 = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
DEFAULT_RULES = LifecycleRules()


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


class Story:
    def __init__(self, customer_id: str = "cust-1") -> None:
        self.customer_id = customer_id
        self.events: list[DomainEvent] = []

    def _add(self, kind: EventType, when: float, event_id: str | None, **data: Any) -> DomainEvent:
        event = DomainEvent(
            event_id=event_id or f"{kind.value}-{len(self.events) + 1}",
            type=kind,
            customer_id=self.customer_id,
            occurred_at=day(when),
            data=data,
        )
        self.events.append(event)
        return event

    def contact(self, when: float, event_id: str | None = None) -> DomainEvent:
        return self._add(EventType.CONTACT, when, event_id, channel="phone", direction="inbound")

    def purchase(
        self,
        when: float,
        amount: str = "100",
        category: str | None = None,
        event_id: str | None = None,
    ) -> DomainEvent:
        data: dict[str, Any] = {"order_id": f"o-{len(self.events)}", "amount": amount}
        if category:
            data["category"] = category
        return self._add(EventType.PURCHASE, when, event_id, currency="CNY", **data)

    def complaint(
        self, when: float, ticket_id: str | None = None, event_id: str | None = None
    ) -> DomainEvent:
        ticket = ticket_id or f"t-{len(self.events) + 1}"
        return self._add(EventType.COMPLAINT, when, event_id, ticket_id=ticket, severity="high")

    def score(self, when: float, churn_risk: float, event_id: str | None = None) -> DomainEvent:
        return self._add(EventType.SCORE, when, event_id, churn_risk=churn_risk)

    def facts(self) -> CustomerFacts:
        return apply_all(CustomerFacts(self.customer_id), self.events)

    def at(self, when: float, rules: LifecycleRules = DEFAULT_RULES) -> LifecycleState:
        return derive(self.facts(), rules, day(when))


def summary(state: LifecycleState) -> list[tuple[str, ...]]:
    """History as (kind, what, reason, cause) rows, easy to compare in asserts."""
    rows: list[tuple[str, ...]] = []
    for t in state.history:
        if t.kind == "stage":
            what = f"{t.from_stage}->{t.to_stage}"
        elif t.kind == "flag":
            what = f"{'+' if t.flag_value else '-'}{t.flag}"
        else:
            what = f"{t.from_tier}->{t.to_tier}"
        rows.append((t.kind.value, what, t.reason.value, t.cause_event_id))
    return rows


def days_until(moment: datetime) -> float:
    """The day number of `moment` on the story calendar."""
    return (moment - T0) / timedelta(days=1)
