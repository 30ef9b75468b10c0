"""What internal apps ask of a customer: find one by e-mail, phone or name, read its event
timeline, and export everything held on it (right of access).

Personal data (name, e-mail, phone, profile values) is shown only to keys with `pii:read`
(or admin); `customers:read` alone finds ids, stages and events without their personal values.
Erased customers are neither found nor exported: erasure deletes their rows, and their ids
are checked against the erasure record besides.
"""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from services.lifecycle.adapters.customer_export import read_export
from services.lifecycle.adapters.customer_lookup import CustomerSearch, lookup_query
from services.lifecycle.adapters.state_store import stored_facts
from services.lifecycle.adapters.tables import customers
from services.lifecycle.domain import CustomerFacts, Stage, Tier
from services.lifecycle.domain.contact_keys import CONTACT_FIELDS
from services.lifecycle.domain.event_timeline import BadCursor, decode_cursor, page, timeline
from shared.auth import Scope, grants, require
from shared.erasure import erased_among
from shared.openapi import problems
from shared.paging import PageLimit, PositionCursor, bad_cursor
from shared.problems import Problem, customer_not_found

router = APIRouter(prefix="/v1", tags=["customer access"])
CustomersReader = Annotated[frozenset[str], Depends(require(Scope.CUSTOMERS_READ))]
PersonalDataReader = Annotated[frozenset[str], Depends(require(Scope.PII_READ))]
CustomerId = Annotated[str, Path(min_length=1, max_length=128)]


class ContactDetails(BaseModel):
    name: str | None
    email: str | None
    phone: str | None


class FoundCustomer(BaseModel):
    customer_id: str
    stage: Stage | None
    tier: Tier | None
    contact: ContactDetails | None = Field(
        description="The customer's current name, e-mail and phone, as sent; null unless the "
        "key has pii:read (or admin)"
    )


class FoundCustomers(BaseModel):
    items: list[FoundCustomer]
    next_cursor: str | None


def _engine(request: Request) -> Any:
    return request.app.state.engine


def _secret(request: Request) -> str:
    secret: str = request.app.state.settings.erasure_secret
    return secret


def _contact(facts_text: str | None) -> ContactDetails | None:
    if facts_text is None:
        return None
    profile = CustomerFacts.from_json(orjson.loads(facts_text)).profile
    values = {f: profile[f].value if f in profile else None for f in CONTACT_FIELDS}
    return ContactDetails(**values)


@router.post(
    "/customers/search",
    response_model=FoundCustomers,
    summary="Find customers by e-mail, phone or name (exact or prefix)",
    responses=problems(422),
)
async def search_customers(
    search: CustomerSearch, request: Request, scopes: CustomersReader
) -> Any:
    """A POST so that personal data stays out of URLs and access logs. Pages are ordered by
    customer_id. Contact details are returned only to keys with pii:read (or admin)."""
    show_contact = grants(scopes, Scope.PII_READ)
    query = lookup_query(search, with_facts=show_contact)
    async with _engine(request).connect() as conn:
        rows = (await conn.execute(query)).all()
        erased = await erased_among(conn, [r.customer_id for r in rows], _secret(request))
    more = len(rows) > search.limit
    rows = rows[: search.limit]
    items = [
        FoundCustomer(
            customer_id=r.customer_id,
            stage=r.stage,
            tier=r.tier,
            contact=_contact(r.facts) if show_contact else None,
        )
        for r in rows
        if r.customer_id not in erased
    ]
    return FoundCustomers(items=items, next_cursor=rows[-1].customer_id if more else None)


class TimelineItem(BaseModel):
    event_id: str
    type: Literal["purchase", "refund", "contact", "complaint", "profile"]
    occurred_at: datetime
    data: dict[str, Any] = Field(
        description="What the platform keeps of the event; amounts are decimal strings in "
        "`currency`. Profile values read `[redacted]` unless the key has pii:read (or admin)"
    )
    redacted: bool


class EventTimeline(BaseModel):
    customer_id: str
    currency: str = Field(description="ISO 4217 code of every amount: the reporting currency")
    items: list[TimelineItem]
    next_cursor: str | None


def _not_found(customer_id: str) -> Problem:
    return customer_not_found(f"No service holds data of customer '{customer_id}'.")


def _json_data(data: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in data.items()}


@router.get(
    "/customers/{customer_id}/events",
    response_model=EventTimeline,
    summary="A customer's events, oldest first (paginated)",
    responses=problems(400, 404),
)
async def get_events(
    customer_id: CustomerId,
    request: Request,
    scopes: CustomersReader,
    limit: PageLimit = 100,
    cursor: PositionCursor = None,
) -> Any:
    """Rebuilt from the facts the lifecycle keeps of each event (README, "Event timeline"):
    purchases, refunds, contacts, complaints (opened, resolved, severity set) and profile
    events (the fields whose current value they set). Ordered by (occurred_at, event_id)."""
    try:
        after = decode_cursor(cursor) if cursor else None
    except BadCursor as exc:
        raise bad_cursor(str(exc)) from exc
    async with _engine(request).connect() as conn:
        facts_text = await conn.scalar(
            sa.select(customers.c.facts).where(customers.c.customer_id == customer_id)
        )
        erased = await erased_among(conn, [customer_id], _secret(request))
        if facts_text is None or erased:
            raise _not_found(customer_id)
        facts = await stored_facts(conn, customer_id, facts_text)
    entries = timeline(facts, show_personal_data=grants(scopes, Scope.PII_READ))
    items, next_cursor = page(entries, limit, after)
    return EventTimeline(
        customer_id=customer_id,
        currency=request.app.state.settings.reporting_currency,
        items=[
            TimelineItem(
                event_id=e.event_id,
                type=e.type,  # type: ignore[arg-type]
                occurred_at=e.occurred_at,
                data=_json_data(e.data),
                redacted=e.redacted,
            )
            for e in items
        ],
        next_cursor=next_cursor,
    )


class LifecycleSection(BaseModel):
    state: dict[str, Any] | None = Field(
        description="The lifecycle row: stage, flags, tier, dates, spend, churn risk"
    )
    history: list[dict[str, Any]] = Field(description="Every stage, flag and tier change")
    events: list[dict[str, Any]] = Field(description="The whole event timeline (see /events)")


class ScoringSection(BaseModel):
    scores: dict[str, Any] | None = Field(description="Aggregates and the latest scores")
    occasions: list[dict[str, Any]]
    purchases: list[dict[str, Any]]
    order_versions: list[dict[str, Any]]
    refunds: list[dict[str, Any]]
    contacts: list[dict[str, Any]]
    complaints: list[dict[str, Any]]


class NotifySection(BaseModel):
    customer: dict[str, Any] | None = Field(
        description="Notify's copy of the profile, consent, preferences and latest scores"
    )
    messages: list[dict[str, Any]] = Field(
        description="Every message with its decisions, subject and template context"
    )
    outcomes: list[dict[str, Any]] = Field(
        description="What the playbooks' impact counted of the customer: purchases, stage "
        "changes and opt-outs (notify_outcomes)"
    )


class AudiencesSection(BaseModel):
    customer: dict[str, Any] | None = Field(
        description="Audiences' view segments are evaluated over: stage, flags, tier, scores, "
        "purchase dates, locale, profile attributes"
    )
    memberships: list[dict[str, Any]] = Field(
        description="Each segment the customer is in (segment, entered_at)"
    )


class CustomerExport(BaseModel):
    customer_id: str
    exported_at: datetime
    currency: str = Field(description="ISO 4217 code of lifecycle and scoring amounts")
    profile: dict[str, Any] = Field(
        description="Each profile field: its current value, when it was set, by which event"
    )
    lifecycle: LifecycleSection
    scoring: ScoringSection
    notify: NotifySection
    audiences: AudiencesSection
    sources: dict[str, str] = Field(description="Each table read, and the section showing it")


@router.get(
    "/customers/{customer_id}/export",
    response_model=CustomerExport,
    summary="Everything the platform holds on a customer (right of access)",
    responses=problems(404),
)
async def export_customer(customer_id: CustomerId, request: Request, _: PersonalDataReader) -> Any:
    """The customer's data in every service (lifecycle, scoring, notify, audiences), read in one
    database snapshot, as JSON. Needs pii:read (or admin): it is all personal data. 404 when
    no service holds any data of the id, or the id was erased."""
    settings = request.app.state.settings
    async with _engine(request).connect() as conn:
        await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            exported_at = await conn.scalar(sa.select(sa.func.now()))
            if await erased_among(conn, [customer_id], settings.erasure_secret):
                raise _not_found(customer_id)
            export = await read_export(conn, customer_id, settings.reporting_currency)
    if export is None:
        raise _not_found(customer_id)
    return {**export, "exported_at": exported_at}
