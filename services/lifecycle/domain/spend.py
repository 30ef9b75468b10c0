"""Spend over time: the trailing window that sets the tier, and quarter-on-quarter growth."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from services.lifecycle.domain.stages import Tier
from shared.business_calendar import UTC_CALENDAR, BusinessCalendar


class TrailingSpend:
    """Spend within the last `window`; a purchase leaves it exactly `window` after it."""

    def __init__(self, window: timedelta) -> None:
        self.window = window
        self._purchases: deque[tuple[datetime, Decimal]] = deque()
        self.total = Decimal(0)

    def add(self, at: datetime, amount: Decimal) -> None:
        self._purchases.append((at, amount))
        self.total += amount

    def purchases(self) -> list[tuple[datetime, Decimal]]:
        return list(self._purchases)

    @classmethod
    def restore(
        cls, window: timedelta, purchases: list[tuple[datetime, Decimal]], total: Decimal
    ) -> TrailingSpend:
        restored = cls(window)
        restored._purchases.extend(purchases)
        restored.total = total
        return restored

    def copy(self) -> TrailingSpend:
        return TrailingSpend.restore(self.window, list(self._purchases), self.total)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TrailingSpend):
            return NotImplemented
        return (self.window, self.total, self._purchases) == (
            other.window,
            other.total,
            other._purchases,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def expire(self, now: datetime) -> None:
        while self._purchases and now - self._purchases[0][0] >= self.window:
            self.total -= self._purchases.popleft()[1]

    def next_tier_change(self, tier: Tier, tier_for: Callable[[Decimal], Tier]) -> datetime | None:
        """When the tier would first change if nothing more were bought."""
        if tier_for(Decimal(0)) == tier == tier_for(self.total):
            return None  # spend only leaves the window, and the tier already is the lowest
        remaining = self.total
        for at, amount in self._purchases:
            remaining -= amount
            if tier_for(remaining) != tier:
                return at + self.window
        return None


class QuarterlySpend:
    def __init__(
        self,
        growth_factor: Decimal,
        growth_quarters: int,
        calendar: BusinessCalendar = UTC_CALENDAR,
    ) -> None:
        """`growth_factor`: 1 + the growth ratio a quarter's spend must reach over the last;
        quarters are the business calendar's."""
        self._calendar = calendar
        self._factor = growth_factor
        self._quarters = growth_quarters
        self._spend: dict[int, Decimal] = {}
        self._grew: dict[int, bool] = {}
        self.version = 0

    def by_quarter(self) -> dict[int, Decimal]:
        return dict(self._spend)

    def copy(self) -> QuarterlySpend:
        copied = QuarterlySpend(self._factor, self._quarters, self._calendar)
        copied._spend = dict(self._spend)
        copied._grew = dict(self._grew)  # still true of the same spend: not computed again
        return copied

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QuarterlySpend):
            return NotImplemented
        return (self._factor, self._quarters, self._spend) == (
            other._factor,
            other._quarters,
            other._spend,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def restore(self, spend: dict[int, Decimal]) -> None:
        self._spend = dict(spend)
        self._grew.clear()
        self.version += 1

    def add(self, at: datetime, amount: Decimal) -> None:
        quarter = self._calendar.quarter(at)
        self._spend[quarter] = self._spend.get(quarter, Decimal(0)) + amount
        for later in range(quarter + 1, quarter + self._quarters + 2):
            self._grew.pop(later, None)  # only the quarters after this one read its spend
        self.version += 1

    def grew_before(self, quarter: int) -> bool:
        """Did spend grow by the ratio in each of the completed quarters before `quarter`?"""
        grew = self._grew.get(quarter)
        if grew is None:
            grew = self._grew[quarter] = self._compute_grew_before(quarter)
        return grew

    def _compute_grew_before(self, quarter: int) -> bool:
        for back in range(1, self._quarters + 1):
            current = self._spend.get(quarter - back, Decimal(0))
            previous = self._spend.get(quarter - back - 1, Decimal(0))
            if previous <= 0 or current < previous * self._factor:
                return False
        return True
