"""Use case: once in a while, start the date playbooks (birthdays, holidays) due today.

Each customer's "today" is in their own time zone. The scan is repeated every interval and by
every instance; the unique occurrence key makes the repeats no-ops.
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notify.adapters import store
from services.notify.adapters.notifications import enqueue_decisions
from services.notify.adapters.tables import notify_customers as customers
from services.notify.domain import PlaybookBook, plan
from services.notify.domain.calendar import calendar_triggers
from services.notify.domain.playbooks import DateKind

from .intake import SERVICE, message_row

Clock = Callable[[], datetime]
BIRTHDAY_KEY = sa.extract("month", customers.c.birthday) * 100 + sa.extract(
    "day", customers.c.birthday
)


class Calendar:
    def __init__(
        self,
        engine: AsyncEngine,
        book: PlaybookBook,
        clock: Clock,
        coupon_secret: str,
        page_size: int = 2000,
        outbox_service: str = SERVICE,
    ) -> None:
        self._engine = engine
        self._book = book
        self._clock = clock
        self._coupon_secret = coupon_secret
        self._page_size = page_size
        self._outbox_service = outbox_service

    def _scope(self, now: datetime) -> tuple[bool, list[int]] | None:
        """(every customer?, birthday keys MMDD) for the days some zone is living now."""
        days = [(now + timedelta(days=d)).date() for d in (-1, 0, 1)]
        date_books = self._book.date_playbooks()
        if any(
            p.trigger.date is DateKind.HOLIDAY and any(p.trigger.holidays_on(d) for d in days)
            for p in date_books
        ):
            return True, []
        if any(p.trigger.date is DateKind.BIRTHDAY for p in date_books):
            keys = {d.month * 100 + d.day for d in days}
            if any(d.month == 2 and d.day == 28 for d in days):
                keys.add(229)
            return False, sorted(keys)
        return None

    async def run_once(self) -> int:
        """Scans today's candidates; returns how many messages were newly decided."""
        now = self._clock()
        scope = self._scope(now)
        if scope is None:
            return 0
        everyone, keys = scope
        decided, after = 0, ""
        while True:
            query = (
                sa.select(customers.c.customer_id)
                .where(customers.c.customer_id > after)
                .order_by(customers.c.customer_id)
                .limit(self._page_size)
            )
            if not everyone:
                query = query.where(BIRTHDAY_KEY.in_(keys))
            async with self._engine.begin() as conn:
                ids = list((await conn.scalars(query)).all())
                if not ids:
                    return decided
                decided += await self._start(conn, ids, now)
            after = ids[-1]

    async def _start(self, conn: Any, ids: list[str], now: datetime) -> int:
        profiles = await store.load_profiles(conn, ids)
        rows = []
        for profile, _ in profiles.values():
            for trigger in calendar_triggers(profile, self._book, now):
                rows += [
                    message_row(p, trigger, now, self._coupon_secret)
                    for p in plan(trigger, self._book, profile, now)
                ]
        inserted = await store.insert_messages(conn, rows)
        decided = [(m, m["status"], m["reason"]) for m in inserted]
        await enqueue_decisions(conn, self._outbox_service, decided, now)
        return len(decided)
