"""Notify HTTP API: playbooks and previews, messages per customer and by status, preferences."""

import base64
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.notify.adapters import store
from services.notify.domain import (
    Channel,
    CustomerProfile,
    PlaybookBook,
    PlaybookError,
    TemplateBook,
)
from services.notify.domain.keys import coupon_code
from services.notify.domain.task_queues import business_day_start
from shared.auth import Scope, require
from shared.openapi import problems
from shared.paging import PageLimit, bad_cursor
from shared.problems import Problem, customer_not_found

router = APIRouter(prefix="/v1", tags=["notify"])
Reader = Annotated[frozenset[str], Depends(require(Scope.NOTIFY_READ))]
Writer = Annotated[frozenset[str], Depends(require(Scope.NOTIFY_WRITE))]
Status = Annotated[
    str | None,
    Query(
        pattern="^(scheduled|sending|sent|failed|suppressed|cancelled|retrying)$",
        description="scheduled | sending | sent | failed | suppressed | cancelled, or retrying "
        "(scheduled again after a failed attempt; a subset of scheduled)",
    ),
]


class MessageOut(BaseModel):
    id: str
    customer_id: str
    playbook: str
    step: str
    repeat: int = Field(description="0, then 1, 2... for the repeats of a repeating step")
    channel: str
    status: str
    reason: str
    occurrence_id: str
    trigger_kind: str
    trigger_at: datetime
    due_at: datetime
    attempts: int
    coupon: str | None
    locale: str | None
    subject: str | None
    provider_response: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    history: list[dict[str, Any]]


class CustomerMessages(BaseModel):
    customer_id: str
    items: list[MessageOut]


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None


class PreferencesIn(BaseModel):
    """Per-channel opt-in (true) or opt-out (false); channels left out keep their setting."""

    model_config = ConfigDict(extra="forbid")
    email: bool | None = None
    sms: bool | None = None


class PreferencesOut(BaseModel):
    customer_id: str
    preferences: dict[str, bool]
    consent: dict[str, bool] = Field(description="consent from profile events")
    effective: dict[str, bool] = Field(description="what notify will do, per channel")


class StepPreview(BaseModel):
    step: str
    channel: str
    delay_seconds: float
    repeat_every_seconds: float | None = Field(description="null for a one-off step")
    applies: bool = Field(description="false when the step is for other tiers")
    locale: str
    subject: str
    body: str


class Preview(BaseModel):
    playbook: str
    customer_id: str
    known_customer: bool
    steps: list[StepPreview]


def _book(request: Request) -> PlaybookBook:
    book: PlaybookBook = request.app.state.book
    return book


@router.get(
    "/playbooks",
    summary="The playbooks and policy in force (read-only)",
    response_model=None,
    responses={200: {"model": PlaybookBook}},
)
async def list_playbooks(request: Request, _: Reader) -> dict[str, Any]:
    return _book(request).model_dump(mode="json")


@router.post(
    "/playbooks/{name}/preview",
    response_model=Preview,
    summary="Render a playbook's messages for a customer without sending anything",
    responses=problems(404),
)
async def preview(
    name: str,
    request: Request,
    _: Reader,
    customer_id: Annotated[str, Query(min_length=1, max_length=128)],
) -> Any:
    playbook = _book(request).get(name)
    if playbook is None:
        raise Problem(404, "Playbook not found", f"No playbook named '{name}'.")
    async with request.app.state.engine.connect() as conn:
        found = await store.load_profiles(conn, [customer_id])
    profile = found[customer_id][0] if found else CustomerProfile(customer_id)
    templates: TemplateBook = request.app.state.templates
    secret = request.app.state.settings.coupon_secret
    steps = []
    for step in playbook.steps:
        context = profile.context(_book(request).policy) | {
            "playbook": playbook.name,
            "step": step.name,
            "coupon": coupon_code(secret, playbook.name, customer_id, "preview")
            if step.coupon
            else None,
            "ticket_id": "T-PREVIEW",
        }
        try:
            rendered = templates.render(step.template, profile.locale, context)
        except PlaybookError as exc:  # a null or unknown variable: never shown as "None"
            raise Problem(422, "Template cannot render", f"step {step.name}: {exc}") from exc
        steps.append(
            StepPreview(
                step=step.name,
                channel=step.channel.value,
                delay_seconds=step.delay.total_seconds(),
                repeat_every_seconds=step.repeat_every.total_seconds()
                if step.repeat_every is not None
                else None,
                applies=step.tiers is None or profile.tier in step.tiers,
                locale=rendered.locale,
                subject=rendered.subject,
                body=rendered.body,
            )
        )
    return Preview(playbook=name, customer_id=customer_id, known_customer=bool(found), steps=steps)


@router.get(
    "/customers/{customer_id}/messages",
    response_model=CustomerMessages,
    summary="A customer's messages with their decision history",
)
async def customer_messages(
    customer_id: str,
    request: Request,
    _: Reader,
    limit: PageLimit = 200,
) -> Any:
    async with request.app.state.engine.connect() as conn:
        items = await store.messages_of(conn, customer_id, limit)
    return {"customer_id": customer_id, "items": items}


def _encode_cursor(item: dict[str, Any]) -> str:
    raw = f"{item['updated_at'].isoformat()}|{item['id']}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, _, message = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(at), message
    except ValueError as exc:
        raise bad_cursor(str(exc)) from exc


@router.get(
    "/messages",
    response_model=MessagePage,
    summary="Messages, newest change first",
    responses=problems(400),
)
async def list_messages(
    request: Request,
    _: Reader,
    status: Status = None,
    limit: PageLimit = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Any:
    after = _decode_cursor(cursor) if cursor else None
    async with request.app.state.engine.connect() as conn:
        rows = await store.messages_with_status(conn, status, limit + 1, after)
    items = rows[:limit]
    return {"items": items, "next_cursor": _encode_cursor(items[-1]) if len(rows) > limit else None}


class OverflowTask(BaseModel):
    id: str
    customer_id: str
    playbook: str
    step: str
    reason: str = Field(description="queue_full:<queue>")
    clv: float | None = Field(description="the customer's CLV now (reporting currency)")
    tier: str | None
    updated_at: datetime


class TaskQueueOut(BaseModel):
    name: str
    daily_capacity: int
    day_started_at: datetime = Field(description="midnight in policy.default_timezone")
    taken_today: int = Field(description="human tasks handed to a person since day start")
    overflow_today: list[OverflowTask] = Field(
        description="tasks the queue could not take today, the most valuable customer first"
    )


class TaskQueues(BaseModel):
    items: list[TaskQueueOut]


@router.get(
    "/task-queues",
    response_model=TaskQueues,
    summary="Account-manager queues: today's capacity, use and overflow ranked by value",
)
async def task_queues(request: Request, _: Reader, limit: PageLimit = 100) -> Any:
    book = _book(request)
    since = business_day_start(request.app.state.settings.now(), book.policy)
    async with request.app.state.engine.connect() as conn:
        taken = await store.tasks_taken_since(conn, since)
        overflow = await store.queue_overflow_since(conn, since, limit)
    items = []
    for queue in book.policy.task_queues:
        used = sum(n for (pb, st), n in taken.items() if book.task_queue_of(pb, st) == queue.name)
        mine = [o for o in overflow if o["reason"] == f"queue_full:{queue.name}"]
        items.append(
            TaskQueueOut(
                name=queue.name,
                daily_capacity=queue.daily_capacity,
                day_started_at=since,
                taken_today=used,
                overflow_today=[OverflowTask(**o) for o in mine],
            )
        )
    return {"items": items}


def _preferences_out(profile: CustomerProfile) -> PreferencesOut:
    return PreferencesOut(
        customer_id=profile.customer_id,
        preferences=dict(profile.preferences),
        consent=dict(profile.consent),
        effective={c.value: profile.opted_in(c) for c in Channel if c.reaches_customer},
    )


@router.put(
    "/customers/{customer_id}/preferences",
    response_model=PreferencesOut,
    summary="Opt a customer in or out per channel",
)
async def put_preferences(
    customer_id: str, body: PreferencesIn, request: Request, _: Writer
) -> Any:
    changes = body.model_dump(exclude_none=True)
    if not changes:
        raise Problem(422, "Validation failed", "Name at least one channel: email or sms.", slug="validation",
                      errors=[{"field": "(body)", "message": "no channel given", "code": "missing"}])  # fmt: skip
    async with request.app.state.engine.begin() as conn:
        profile = await store.set_preferences(conn, customer_id, changes)
    return _preferences_out(profile)


@router.get(
    "/customers/{customer_id}/preferences",
    response_model=PreferencesOut,
    summary="A customer's channel preferences, consent and what notify will do",
    responses=problems(404),
)
async def get_preferences(customer_id: str, request: Request, _: Reader) -> Any:
    async with request.app.state.engine.connect() as conn:
        found = await store.load_profiles(conn, [customer_id])
    if not found:
        raise customer_not_found(f"Notify knows nothing of '{customer_id}' yet.")
    return _preferences_out(found[customer_id][0])
