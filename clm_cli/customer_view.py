"""One customer as every service sees it: lifecycle state and history, scores, messages."""

import asyncio
from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from clm_cli.errors import CliError
from clm_cli.service_calls import Reply, fetch
from clm_cli.settings import CliSettings

STATE_FIELDS = (
    "stage",
    "flags",
    "tier",
    "stage_since",
    "lifecycle_pattern",
    "first_seen_at",
    "first_purchase_at",
    "last_purchase_at",
    "purchase_occasions",
    "total_spend",
    "trailing_spend",
    "reactivations",
    "churn_risk",
    "next_due_at",
)
SCORE_FIELDS = (
    "p_alive",
    "churn_risk",
    "expected_purchases",
    "expected_avg_spend",
    "clv",
    "historical_value",
    "health_score",
    "rfm",
    "model_id",
)


@dataclass(frozen=True)
class CustomerReplies:
    state: Reply
    history: Reply
    scores: Reply
    messages: Reply

    def known(self) -> bool:
        items = self.messages.body.get("items") if self.messages.ok else None
        return self.state.ok or self.scores.ok or bool(items)

    def all_unreachable(self) -> bool:
        return all(r.status == "unreachable" for r in (self.state, self.scores, self.messages))


async def gather(settings: CliSettings, customer_id: str) -> CustomerReplies:
    state, history, scores, messages = await asyncio.gather(
        fetch(settings, "lifecycle", f"/v1/customers/{customer_id}"),
        fetch(settings, "lifecycle", f"/v1/customers/{customer_id}/history"),
        fetch(settings, "scoring", f"/v1/customers/{customer_id}/scores"),
        fetch(settings, "notify", f"/v1/customers/{customer_id}/messages"),
    )
    return CustomerReplies(state, history, scores, messages)


def check_known(replies: CustomerReplies, customer_id: str, settings: CliSettings) -> None:
    if replies.all_unreachable():
        raise CliError(
            "None of lifecycle, scoring and notify is reachable "
            f"(lifecycle at {settings.service_url('lifecycle')}); start the stack with `clm up`."
        )
    refused = [
        r for r in (replies.state, replies.scores, replies.messages) if r.status == "refused"
    ]
    if refused and not replies.known():
        names = ", ".join(sorted({r.service for r in refused}))
        raise CliError(
            f"Authentication failed: {names} refused the API key ({refused[0].detail.rstrip('.')}); "
            "set CLM_API_KEY to a valid key with the customers:read, scores:read and notify:read scopes."
        )
    if not replies.known():
        raise CliError(f"No service knows a customer with id '{customer_id}'.")


def render(customer_id: str, replies: CustomerReplies) -> RenderableType:
    return Group(
        Text(f"Customer {customer_id}", style="bold"),
        Panel(_state(replies.state), title="lifecycle", title_align="left"),
        Panel(_history(replies.history), title="history", title_align="left"),
        Panel(_scores(replies.scores), title="scores", title_align="left"),
        Panel(_messages(replies.messages), title="messages", title_align="left"),
    )


def _unavailable(reply: Reply) -> RenderableType | None:
    if reply.status == "unreachable":
        return Text(f"{reply.service} is not reachable ({reply.detail})", style="red")
    if reply.status == "not_found":
        return Text(f"{reply.service} does not know this customer", style="yellow")
    if reply.status == "refused":
        return Text(f"{reply.service} refused the API key ({reply.detail})", style="red")
    if reply.status == "error":
        return Text(f"{reply.service} failed: {reply.detail}", style="red")
    return None


def _fields(body: dict[str, Any], names: tuple[str, ...]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="cyan")
    table.add_column()
    for name in names:
        if name in body:
            table.add_row(name, _value(body[name]))
    return table


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _state(reply: Reply) -> RenderableType:
    return _unavailable(reply) or _fields(reply.body, STATE_FIELDS)


def _scores(reply: Reply) -> RenderableType:
    return _unavailable(reply) or _fields(reply.body, SCORE_FIELDS)


def _history(reply: Reply) -> RenderableType:
    if (missing := _unavailable(reply)) is not None:
        return missing
    transitions = reply.body.get("transitions", [])
    if not transitions:
        return Text("no transitions yet", style="dim")
    table = Table(box=None, pad_edge=False)
    for column in ("occurred_at", "kind", "change", "reason"):
        table.add_column(column)
    for t in transitions:
        if t.get("kind") == "flag":
            change = f"{t.get('flag')} {'set' if t.get('flag_value') else 'cleared'}"
        elif t.get("kind") == "tier":
            change = f"tier {t.get('from_tier')} -> {t.get('to_tier')}"
        else:
            change = f"{t.get('from_stage') or 'new'} -> {t.get('to_stage')}"
        table.add_row(str(t.get("occurred_at")), str(t.get("kind")), change, str(t.get("reason")))
    return table


def _messages(reply: Reply) -> RenderableType:
    if (missing := _unavailable(reply)) is not None:
        return missing
    items = reply.body.get("items", [])
    if not items:
        return Text("no messages", style="dim")
    table = Table(box=None, pad_edge=False)
    columns = ("due_at", "playbook", "step", "channel", "status", "reason")
    for column in columns:
        table.add_column(column)
    for message in items:
        table.add_row(*(_value(message.get(c)) for c in columns))
    return table
