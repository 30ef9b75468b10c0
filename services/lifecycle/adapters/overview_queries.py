"""The counts behind GET /v1/reports/overview and /v1/stats/transitions (domain/overview.py
folds them)."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.lifecycle.domain.overview import CustomerGroup, DailyChanges
from services.lifecycle.domain.stages import Flag, LifecyclePattern, Stage, Tier

from .tables import customers, transitions


async def customer_groups(conn: AsyncConnection) -> list[CustomerGroup]:
    """One scan of the customers: a few dozen groups at most (stages x tiers x patterns x 2)."""
    at_risk = customers.c.flags.contains([Flag.AT_RISK.value]).label("at_risk")
    columns = (customers.c.stage, customers.c.tier, customers.c.lifecycle_pattern, at_risk)
    rows = await conn.execute(sa.select(*columns, sa.func.count()).group_by(*columns))
    return [
        CustomerGroup(
            Stage(stage), Tier(tier), LifecyclePattern(pattern) if pattern else None, flagged, n
        )
        for stage, tier, pattern, flagged, n in rows
    ]


async def daily_changes(conn: AsyncConnection, since: datetime) -> list[DailyChanges]:
    """Changes since `since`, per UTC calendar day, kind and target."""
    # timezone('UTC', ...): the day is UTC's whatever the session's time zone.
    utc = sa.func.timezone("UTC", transitions.c.occurred_at)
    day = sa.func.to_char(sa.func.date_trunc("day", utc), "YYYY-MM-DD")
    query = (
        sa.select(
            day.label("day"),
            transitions.c.kind,
            transitions.c.to_stage,
            transitions.c.flag,
            sa.func.count().label("count"),
        )
        .where(transitions.c.occurred_at >= since)
        .group_by(day, transitions.c.kind, transitions.c.to_stage, transitions.c.flag)
        .order_by(day)
    )
    return [
        DailyChanges(day, kind, Stage(to_stage), flag, n)
        for day, kind, to_stage, flag, n in await conn.execute(query)
    ]
