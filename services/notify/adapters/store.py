"""SQL for notify: customer profiles, the message schedule and its status changes."""

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notify.domain import CustomerProfile
from services.notify.domain.cancellations import Cancellation, Pending
from services.notify.domain.decisions import AWAITING_ADDRESS
from services.notify.domain.holdout import CONTROL_GROUP
from services.notify.domain.repeats import Entry
from shared import customer_locks

from .tables import notify_customers as customers
from .tables import notify_messages as messages
from .tables import notify_outcomes as outcomes

MESSAGE_COLUMNS = [c for c in messages.c if c.name != "history"]
# What a decision's record and log line read of its message (a cancellation returns no more).
DECIDED_COLUMNS = ("id", "customer_id", "playbook", "step", "channel", "occurrence_id",
                   "trigger_kind", "due_at", "attempts", "coupon")  # fmt: skip


_ENSURE_CUSTOMERS = sa.text(
    "INSERT INTO notify_customers (customer_id) "
    "SELECT id FROM unnest(CAST(:ids AS varchar[])) AS id ORDER BY id "
    "ON CONFLICT DO NOTHING"
).bindparams(sa.bindparam("ids", type_=ARRAY(sa.String)))


def _profile(row: Any) -> CustomerProfile:
    return CustomerProfile(
        customer_id=row.customer_id,
        name=row.name,
        email=row.email,
        phone=row.phone,
        locale=row.locale,
        timezone=row.timezone,
        birthday=row.birthday,
        consent=dict(row.consent or {}),
        preferences=dict(row.preferences or {}),
        stage=row.stage,
        tier=row.tier or "C",
        scores=dict(row.scores or {}),
    )


_PROFILES = sa.select(customers).where(
    customers.c.customer_id == sa.any_(sa.bindparam("ids", type_=ARRAY(sa.String)))
)
_LOCK_PROFILES = sa.text(
    "SELECT customer_id FROM notify_customers "
    "WHERE customer_id = ANY(CAST(:ids AS varchar[])) ORDER BY customer_id FOR UPDATE"
).bindparams(sa.bindparam("ids", type_=ARRAY(sa.String)))


async def load_profiles(
    conn: AsyncConnection, customer_ids: Iterable[str], *, for_update: bool = False
) -> dict[str, tuple[CustomerProfile, datetime | None]]:
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    query = _PROFILES
    if for_update:
        # A row lock needs a row: create missing ones first, so that two transactions about
        # a new customer (a profile event and a stage change) wait for each other.
        await conn.execute(_ENSURE_CUSTOMERS, {"ids": ids})
        query = query.order_by(customers.c.customer_id).with_for_update()
    rows = (await conn.execute(query, {"ids": ids})).all()
    return {r.customer_id: (_profile(r), r.profile_at) for r in rows}


async def lock_profiles(
    conn: AsyncConnection, customer_ids: Iterable[str], read: Iterable[str]
) -> dict[str, tuple[CustomerProfile, datetime | None]]:
    """Holds every customer's profile row until the transaction ends (as `load_profiles` with
    `for_update` does: rows created if missing, locked in one key order, so that any two
    transactions about a customer wait for each other); returns the profiles of `read` only:
    a batch's purchases and contacts that start no playbook need no profile decoded."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    await conn.execute(_ENSURE_CUSTOMERS, {"ids": ids})
    await conn.execute(_LOCK_PROFILES, {"ids": ids})
    return await load_profiles(conn, read)


def profile_row(profile: CustomerProfile, profile_at: datetime | None) -> dict[str, Any]:
    birthday = profile.birthday
    return {
        "customer_id": profile.customer_id,
        "name": profile.name,
        "email": profile.email,
        "phone": profile.phone,
        "locale": profile.locale,
        "timezone": profile.timezone,
        "birthday": birthday if isinstance(birthday, date) or birthday is None else None,
        "consent": dict(profile.consent),
        "preferences": dict(profile.preferences),
        "stage": profile.stage,
        "tier": profile.tier,
        "scores": dict(profile.scores),
        "profile_at": profile_at,
    }


_PROFILE_COLUMNS = {
    # column: postgres array element type (JSON documents travel as text, cast to jsonb)
    "customer_id": "varchar", "name": "varchar", "email": "varchar", "phone": "varchar",
    "locale": "varchar", "timezone": "varchar", "birthday": "date", "consent": "text",
    "preferences": "text", "stage": "varchar", "tier": "varchar", "scores": "text",
    "profile_at": "timestamptz",
}  # fmt: skip
_PROFILE_JSON = ("consent", "preferences", "scores")
_SAVE_PROFILES = sa.text(
    "INSERT INTO notify_customers ("
    + ", ".join(_PROFILE_COLUMNS)
    + ", updated_at) SELECT "
    + ", ".join(f"CAST({c} AS jsonb)" if c in _PROFILE_JSON else c for c in _PROFILE_COLUMNS)
    + ", now() FROM unnest("
    + ", ".join(f"CAST(:{c} AS {t}[])" for c, t in _PROFILE_COLUMNS.items())
    + ") AS v("
    + ", ".join(_PROFILE_COLUMNS)
    + ") ON CONFLICT (customer_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _PROFILE_COLUMNS if c != "customer_id")
    + ", updated_at = now()"
).bindparams(
    sa.bindparam("birthday", type_=ARRAY(sa.Date)),
    sa.bindparam("profile_at", type_=ARRAY(sa.DateTime(timezone=True))),
    *(
        sa.bindparam(c, type_=ARRAY(sa.Text))
        for c in _PROFILE_COLUMNS
        if c not in ("birthday", "profile_at")
    ),
)


async def save_profiles(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Upserts the profiles (`profile_row`s, in one key order) in one statement."""
    if not rows:
        return
    params = {
        c: [orjson.dumps(r[c]).decode() for r in rows]
        if c in _PROFILE_JSON
        else [r[c] for r in rows]
        for c in _PROFILE_COLUMNS
    }
    await conn.execute(_SAVE_PROFILES, params)


async def set_preferences(
    conn: AsyncConnection, customer_id: str, changes: Mapping[str, bool]
) -> CustomerProfile:
    base = insert(customers).values(customer_id=customer_id, preferences=dict(changes))
    stmt = base.on_conflict_do_update(
        index_elements=[customers.c.customer_id],
        set_={
            "preferences": customers.c.preferences.op("||")(
                sa.bindparam("changes", dict(changes), type_=JSONB)
            ),
            "updated_at": sa.func.now(),
        },
    ).returning(*customers.c)
    row = (await conn.execute(stmt)).one()
    refused = sorted(c for c, v in changes.items() if v is False)
    if refused:  # an opt-out is an outcome the playbooks' impact counts
        await conn.execute(
            insert(outcomes).on_conflict_do_nothing(),
            [
                {
                    "event_id": f"preference:{uuid.uuid4()}",
                    "customer_id": customer_id,
                    "kind": "opt_out",
                    "occurred_at": datetime.now(UTC),
                    "channel": c,
                }
                for c in refused
            ],
        )
    return _profile(row)


_INSERT_OUTCOMES = sa.text(
    "INSERT INTO notify_outcomes (event_id, customer_id, kind, occurred_at, amount, currency, "
    "from_stage, to_stage, channel) SELECT * FROM unnest(CAST(:event_id AS varchar[]), "
    "CAST(:customer_id AS varchar[]), CAST(:kind AS varchar[]), "
    "CAST(:occurred_at AS timestamptz[]), CAST(:amount AS numeric[]), "
    "CAST(:currency AS varchar[]), CAST(:from_stage AS varchar[]), CAST(:to_stage AS varchar[]), "
    "CAST(:channel AS varchar[])) ON CONFLICT (event_id) DO NOTHING"
).bindparams(
    sa.bindparam("occurred_at", type_=ARRAY(sa.DateTime(timezone=True))),
    sa.bindparam("amount", type_=ARRAY(sa.Numeric)),
    *(
        sa.bindparam(c, type_=ARRAY(sa.String))
        for c in (
            "event_id",
            "customer_id",
            "kind",
            "currency",
            "from_stage",
            "to_stage",
            "channel",
        )
    ),
)
OUTCOME_COLUMNS = (
    "event_id", "customer_id", "kind", "occurred_at", "amount", "currency", "from_stage",
    "to_stage", "channel",
)  # fmt: skip


async def insert_outcomes(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Purchases, stage changes and opt-outs in one statement; a redelivery is a no-op."""
    if rows:
        await conn.execute(_INSERT_OUTCOMES, {c: [r.get(c) for r in rows] for c in OUTCOME_COLUMNS})


_INSERT_COLUMNS = {
    # column: (postgres array element type, how a value travels)
    "id": "text",
    "playbook": "text",
    "step": "text",
    "repeat": "integer",
    "customer_id": "text",
    "occurrence_id": "text",
    "trigger_kind": "text",
    "trigger_at": "timestamptz",
    "channel": "text",
    "template": "text",
    "status": "text",
    "reason": "text",
    "due_at": "timestamptz",
    "cancel_on": "text",  # comma-joined; event type names never contain commas
    "coupon": "text",
    "context": "text",  # JSON text, cast to jsonb
    "history": "text",
    "created_at": "timestamptz",
}
_ELEMENT_TYPES: dict[str, Any] = {"timestamptz": sa.DateTime(timezone=True), "integer": sa.Integer}
_SELECT = {
    "cancel_on": "COALESCE(string_to_array(NULLIF(cancel_on, ''), ','), '{}')",
    "context": "CAST(context AS jsonb)",
    "history": "CAST(history AS jsonb)",
}
_INSERT = sa.text(
    "INSERT INTO notify_messages ("
    + ", ".join(_INSERT_COLUMNS)
    + ", attempts, updated_at) SELECT "
    + ", ".join(_SELECT.get(c, c) for c in _INSERT_COLUMNS)
    + ", 0, created_at FROM unnest("
    + ", ".join(f"CAST(:{c} AS {t}[])" for c, t in _INSERT_COLUMNS.items())
    + ") AS v("
    + ", ".join(_INSERT_COLUMNS)
    + ") ON CONFLICT ON CONSTRAINT uq_notify_messages_occurrence DO NOTHING RETURNING id"
).bindparams(
    *(
        sa.bindparam(c, type_=ARRAY(_ELEMENT_TYPES.get(t, sa.Text)))
        for c, t in _INSERT_COLUMNS.items()
    )
)


def _travel(column: str, value: Any) -> Any:
    if column == "cancel_on":
        return ",".join(value)
    if column in ("context", "history"):
        return orjson.dumps(value).decode()
    return value


async def insert_messages(
    conn: AsyncConnection, rows: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Inserts new messages in one statement; those whose occurrence key exists are skipped."""
    if not rows:
        return []
    params = {c: [_travel(c, r[c]) for r in rows] for c in _INSERT_COLUMNS}
    inserted = {r.id for r in await conn.execute(_INSERT, params)}
    return [r for r in rows if r["id"] in inserted]


def _returning() -> list[Any]:
    return list(MESSAGE_COLUMNS)


# A once-per-customer playbook counts as had while a message of it is pending or went out.
_HAD_STATUSES = ("scheduled", "sending", "sent")


async def playbooks_had(
    conn: AsyncConnection, customer_ids: Iterable[str], playbooks: Iterable[str]
) -> dict[str, set[str]]:
    """Which of ``playbooks`` each customer already had (a message scheduled or sent, or
    held out in its control group)."""
    ids, names = sorted(set(customer_ids)), sorted(set(playbooks))
    if not ids or not names:
        return {}
    query = (
        sa.select(messages.c.customer_id, messages.c.playbook)
        .distinct()
        .where(
            messages.c.customer_id == sa.any_(sa.literal(ids, ARRAY(sa.String))),
            messages.c.playbook.in_(names),
            # held out counts as had: both arms get a once-per-customer playbook's first
            # trigger only, so the arms stay comparable
            sa.or_(messages.c.status.in_(_HAD_STATUSES), messages.c.reason == CONTROL_GROUP),
        )
    )
    had: dict[str, set[str]] = defaultdict(set)
    for row in await conn.execute(query):
        had[row.customer_id].add(row.playbook)
    return had


_PENDING_CANCELLABLE = sa.text(
    "SELECT id, customer_id, occurrence_id, trigger_at, cancel_on FROM notify_messages "
    "WHERE customer_id = ANY(CAST(:customers AS varchar[])) AND status = 'scheduled' "
    "AND (cancel_on && CAST(:events AS varchar[]) "
    "OR occurrence_id = ANY(CAST(:occurrences AS varchar[]))) "
    # locked in one order by every intake (events and lifecycle groups): no deadlock
    "ORDER BY id FOR UPDATE"
).bindparams(
    sa.bindparam("customers", type_=ARRAY(sa.String)),
    sa.bindparam("events", type_=ARRAY(sa.String)),
    sa.bindparam("occurrences", type_=ARRAY(sa.String)),
)


async def pending_cancellable(
    conn: AsyncConnection, requests: Sequence[Cancellation]
) -> list[Pending]:
    """The scheduled messages the requests may cancel (a superset: the domain decides which),
    locked until the transaction ends; one statement for the whole batch."""
    if not requests:
        return []
    params = {
        "customers": sorted({r.customer_id for r in requests}),
        "events": sorted({r.event for r in requests if r.event is not None}),
        "occurrences": sorted({r.retracts for r in requests if r.retracts is not None}),
    }
    return [
        Pending(r.id, r.customer_id, r.occurrence_id, r.trigger_at, tuple(r.cancel_on or ()))
        for r in await conn.execute(_PENDING_CANCELLABLE, params)
    ]


_CANCEL = (
    sa.text(
        "UPDATE notify_messages AS m SET status = 'cancelled', reason = v.reason, "
        "updated_at = :now, history = m.history || jsonb_build_array(jsonb_build_object("
        "'status', 'cancelled', 'reason', v.reason, 'at', CAST(:now AS timestamptz))) "
        "FROM unnest(CAST(:ids AS varchar[]), CAST(:reasons AS text[])) AS v(id, reason) "
        # the ANY lets the planner find the rows by primary key, whatever the join's estimate
        "WHERE m.id = v.id AND m.id = ANY(CAST(:ids AS varchar[])) AND m.status = 'scheduled' "
        "RETURNING " + ", ".join(f"m.{c}" for c in DECIDED_COLUMNS)
    )
    .bindparams(
        sa.bindparam("ids", type_=ARRAY(sa.String)),
        sa.bindparam("reasons", type_=ARRAY(sa.Text)),
        sa.bindparam("now", type_=sa.DateTime(timezone=True)),
    )
    .columns(*(messages.c[c] for c in DECIDED_COLUMNS))
)


# The subquery repeats the predicate of ix_notify_messages_awaiting_address literally (a bound
# reason would not match a partial index in a generic plan) and leaves the due time to the
# outer test: a `due_at > now` beside `status = 'scheduled'` lets the planner choose
# ix_notify_messages_due, which reads every scheduled message due later, whatever the customer
# (its estimate of "due after now" is the statistics' and misses messages planned since).
_WAKE_AWAITING_ADDRESS = sa.text(
    "UPDATE notify_messages AS m SET due_at = :now, updated_at = :now, "
    "history = m.history || jsonb_build_array(jsonb_build_object("
    "'status', 'scheduled', 'reason', 'profile_arrived', 'at', CAST(:now AS timestamptz))) "
    "WHERE m.id IN (SELECT id FROM notify_messages "
    "WHERE customer_id = ANY(CAST(:ids AS varchar[])) "
    f"AND status = 'scheduled' AND reason = '{AWAITING_ADDRESS}' "
    # a sender holding one is deciding it already (it waits for this transaction's profile
    # lock, then reads the new profile): skipping it keeps the two from deadlocking
    "FOR UPDATE SKIP LOCKED) "
    # a step whose grace is over is the sender's to decide (due already): left as it is
    "AND m.due_at > :now"
).bindparams(
    sa.bindparam("ids", type_=ARRAY(sa.String)),
    sa.bindparam("now", type_=sa.DateTime(timezone=True)),
)


async def wake_awaiting_address(
    conn: AsyncConnection, customer_ids: Iterable[str], now: datetime
) -> None:
    """Makes the customers' steps awaiting an address due now (one statement)."""
    ids = sorted(set(customer_ids))
    if ids:
        await conn.execute(_WAKE_AWAITING_ADDRESS, {"ids": ids, "now": now})


async def cancel_messages(
    conn: AsyncConnection, reasons: Mapping[str, str], now: datetime
) -> dict[str, dict[str, Any]]:
    """Cancels the scheduled messages (id -> reason) in one statement; the cancelled rows
    (their DECIDED_COLUMNS)."""
    if not reasons:
        return {}
    params = {"ids": list(reasons), "reasons": list(reasons.values()), "now": now}
    return {r.id: dict(r._mapping) for r in await conn.execute(_CANCEL, params)}


_LATEST_ENTRIES = sa.text(
    "SELECT DISTINCT ON (m.customer_id, m.playbook) m.customer_id, m.playbook, m.trigger_at, "
    "m.occurrence_id FROM notify_messages m "
    "WHERE m.customer_id = ANY(CAST(:customers AS varchar[])) "
    "AND m.playbook = ANY(CAST(:playbooks AS varchar[])) "
    # a retracted entry never happened: the chain it would supersede goes on
    "AND NOT EXISTS (SELECT 1 FROM notify_messages r WHERE r.customer_id = m.customer_id "
    "AND r.playbook = m.playbook AND r.occurrence_id = m.occurrence_id "
    "AND r.reason = 'trigger_retracted') "
    "ORDER BY m.customer_id, m.playbook, m.trigger_at DESC, m.occurrence_id DESC"
).bindparams(
    sa.bindparam("customers", type_=ARRAY(sa.String)),
    sa.bindparam("playbooks", type_=ARRAY(sa.String)),
)


async def latest_entries(
    conn: AsyncConnection, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Entry]:
    """The newest trigger occurrence of each (customer, playbook) that notify has messages for."""
    wanted = set(pairs)
    if not wanted:
        return {}
    params = {
        "customers": sorted({c for c, _ in wanted}),
        "playbooks": sorted({p for _, p in wanted}),
    }
    return {
        (r.customer_id, r.playbook): Entry(r.trigger_at, r.occurrence_id)
        for r in await conn.execute(_LATEST_ENTRIES, params)
        if (r.customer_id, r.playbook) in wanted
    }


async def claim_due(conn: AsyncConnection, now: datetime, limit: int) -> list[dict[str, Any]]:
    query = (
        sa.select(*MESSAGE_COLUMNS)
        .where(messages.c.status == "scheduled", messages.c.due_at <= now)
        .order_by(messages.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [dict(r._mapping) for r in await conn.execute(query)]


async def expire_in_doubt(
    conn: AsyncConnection, now: datetime, limit: int = 500
) -> list[dict[str, Any]]:
    """Messages whose sender died mid-send: outcome unknown, so failed rather than sent twice."""
    ids = (
        sa.select(messages.c.id)
        .where(messages.c.status == "sending", messages.c.lease_until < now)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    reason = "in_doubt: the sender stopped during delivery; not retried (at most once)"
    query = (
        messages.update()
        .where(messages.c.id.in_(ids))
        .values(
            status="failed",
            reason=reason,
            updated_at=now,
            lease_until=None,
            history=sa.text(
                "history || jsonb_build_array(jsonb_build_object("
                "'status', 'failed', 'reason', CAST(:r AS text), 'at', CAST(:t AS timestamptz)))"
            ).bindparams(r=reason, t=now),
        )
        .returning(*_returning())
    )
    return [dict(r._mapping) for r in await conn.execute(query)]


_NOTIFY_LOCK_SEED = 7  # the seed notify has always hashed with: running replicas agree


async def lock_customers(conn: AsyncConnection, customer_ids: Iterable[str]) -> None:
    """Holds these customers until the transaction ends, so that two senders deciding for the
    same customer see each other's sends (frequency caps)."""
    await customer_locks.lock_customers(conn, customer_ids, _NOTIFY_LOCK_SEED)


_LOCK_TASK_QUEUES = sa.text(
    "SELECT pg_advisory_xact_lock(hashtextextended('notify:task_queues', 7))"
)


async def lock_task_queues(conn: AsyncConnection) -> None:
    """One sender at a time counts and fills today's human-task queues."""
    await conn.execute(_LOCK_TASK_QUEUES)


async def tasks_taken_since(conn: AsyncConnection, since: datetime) -> dict[tuple[str, str], int]:
    """Human tasks (webhook messages) handed to a person since ``since``, per playbook step."""
    at = sa.func.coalesce(messages.c.sent_at, messages.c.updated_at)
    query = (
        sa.select(messages.c.playbook, messages.c.step, sa.func.count())
        .where(
            messages.c.channel == "webhook",
            messages.c.status.in_(("sending", "sent", "failed")),
            messages.c.attempts > 0,
            at >= since,
        )
        .group_by(messages.c.playbook, messages.c.step)
    )
    return {(r[0], r[1]): int(r[2]) for r in await conn.execute(query)}


async def queue_overflow_since(
    conn: AsyncConnection, since: datetime, limit: int
) -> list[dict[str, Any]]:
    """Human tasks no queue could take since ``since``, the most valuable customer first."""
    clv = customers.c.scores["clv"].astext.cast(sa.Float)
    query = (
        sa.select(
            messages.c.id,
            messages.c.customer_id,
            messages.c.playbook,
            messages.c.step,
            messages.c.reason,
            messages.c.updated_at,
            clv.label("clv"),
            customers.c.tier,
        )
        .select_from(
            messages.outerjoin(customers, customers.c.customer_id == messages.c.customer_id)
        )
        .where(
            messages.c.channel == "webhook",
            messages.c.status == "suppressed",
            messages.c.reason.like("queue_full:%"),
            messages.c.updated_at >= since,
        )
        .order_by(clv.desc().nulls_last(), messages.c.id)
        .limit(limit)
    )
    return [dict(r._mapping) for r in await conn.execute(query)]


async def recent_sends(
    conn: AsyncConnection, customer_ids: Iterable[str], since: datetime
) -> dict[tuple[str, str], list[datetime]]:
    ids = sorted(set(customer_ids))
    found: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    if not ids:
        return found
    at = sa.func.coalesce(messages.c.sent_at, messages.c.updated_at)
    query = sa.select(messages.c.customer_id, messages.c.channel, at.label("at")).where(
        messages.c.customer_id.in_(ids),
        messages.c.status.in_(("sent", "sending")),
        at > since,
    )
    for row in await conn.execute(query):
        found[(row.customer_id, row.channel)].append(row.at)
    return found


_UPDATE = sa.text(
    "UPDATE notify_messages SET status = CAST(:status AS text), "
    "reason = CAST(:reason AS text), due_at = :due_at, attempts = :attempts, "
    "lease_until = :lease_until, sent_at = :sent_at, provider_response = :provider_response, "
    "locale = :locale, subject = :subject, updated_at = CAST(:now AS timestamptz), "
    "history = history || jsonb_build_array(jsonb_build_object("
    "'status', CAST(:status AS text), 'reason', CAST(:reason AS text), "
    "'at', CAST(:now AS timestamptz)))"
    " WHERE id = :id"
)


async def update_messages(conn: AsyncConnection, updates: Sequence[dict[str, Any]]) -> None:
    """Each update carries every column of _UPDATE (use `message_update`)."""
    if updates:
        await conn.execute(_UPDATE, list(updates))


def message_update(message: Mapping[str, Any], now: datetime, **changes: Any) -> dict[str, Any]:
    keys = (
        "status",
        "reason",
        "due_at",
        "attempts",
        "lease_until",
        "sent_at",
        "provider_response",
        "locale",
        "subject",
    )
    values = {k: message.get(k) for k in keys} | changes
    return {**values, "id": message["id"], "now": now}


async def messages_of(conn: AsyncConnection, customer_id: str, limit: int) -> list[dict[str, Any]]:
    query = (
        sa.select(messages)
        .where(messages.c.customer_id == customer_id)
        .order_by(messages.c.created_at, messages.c.due_at, messages.c.id)
        .limit(limit)
    )
    return [dict(r._mapping) for r in await conn.execute(query)]


async def messages_with_status(
    conn: AsyncConnection,
    status: str | None,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[dict[str, Any]]:
    query = sa.select(messages).order_by(messages.c.updated_at.desc(), messages.c.id.desc())
    if status == "retrying":  # scheduled again after a failed attempt: not a stored status
        query = query.where(messages.c.status == "scheduled", messages.c.attempts > 0)
    elif status:
        query = query.where(messages.c.status == status)
    if after:
        query = query.where(sa.tuple_(messages.c.updated_at, messages.c.id) < sa.tuple_(*after))
    return [dict(r._mapping) for r in await conn.execute(query.limit(limit))]


# The impact's units: first decisions (repeat 0) of a playbook that count as eligible. Held out
# (control_group) or treated, whatever happened next; not the triggers that were never going to
# be acted on (stale, once per customer already had) nor those lifecycle retracted.
_NOT_ELIGIBLE = ("once_per_customer", "stale_trigger", "trigger_retracted")
_IMPACT_UNITS = sa.text(
    "SELECT customer_id, occurrence_id, step, channel, trigger_at, status, reason, sent_at "
    "FROM notify_messages WHERE playbook = :playbook AND repeat = 0 "
    "AND reason <> ALL(CAST(:excluded AS text[])) AND trigger_at >= :since "
    "ORDER BY trigger_at, customer_id, occurrence_id, step"
).bindparams(sa.bindparam("excluded", type_=ARRAY(sa.Text)))
_OUTCOMES_OF = sa.text(
    "SELECT o.customer_id, o.kind, o.occurred_at, o.amount, o.currency, o.from_stage, o.to_stage "
    "FROM notify_outcomes o JOIN (SELECT customer_id, min(trigger_at) AS first_at "
    "FROM notify_messages WHERE playbook = :playbook AND repeat = 0 AND trigger_at >= :since "
    "GROUP BY customer_id) u ON u.customer_id = o.customer_id AND o.occurred_at > u.first_at "
    "ORDER BY o.customer_id, o.occurred_at"
)


async def impact_units(
    conn: AsyncConnection, playbook: str, since: datetime
) -> list[dict[str, Any]]:
    params = {"playbook": playbook, "excluded": list(_NOT_ELIGIBLE), "since": since}
    return [dict(r._mapping) for r in await conn.execute(_IMPACT_UNITS, params)]


async def impact_outcomes(
    conn: AsyncConnection, playbook: str, since: datetime
) -> list[dict[str, Any]]:
    """The outcome facts of the playbook's customers after their first trigger since `since`."""
    params = {"playbook": playbook, "since": since}
    return [dict(r._mapping) for r in await conn.execute(_OUTCOMES_OF, params)]
