"""The business's calendar: which day, quarter and year a moment falls in (CLM_BUSINESS_TIMEZONE).

Purchase occasions (one per customer per calendar day), tiers, upgrade triggers and RFM count
calendar days and quarters in the business's own time zone, the same in every service: a shop
in Asia/Shanghai closes its day at 16:00 UTC. Birthdays and quiet hours are the customer's
own zone's (notify), not this one.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class UnknownTimeZone(ValueError):
    """A name that is not an IANA time zone (e.g. "Asia/Shanghai", "UTC")."""


@lru_cache
def business_zone(name: str) -> tzinfo:
    if name == "UTC":
        return UTC  # the same object as stored moments carry: converting to it is free
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnknownTimeZone(
            f"{name!r} is not an IANA time zone name (e.g. UTC, Asia/Shanghai, Europe/Berlin)"
        ) from exc


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    zone: tzinfo = UTC

    @classmethod
    def named(cls, name: str) -> "BusinessCalendar":
        return cls(business_zone(name))

    @property
    def zone_name(self) -> str:
        """The IANA name, as PostgreSQL's AT TIME ZONE takes it."""
        return str(getattr(self.zone, "key", None) or "UTC")

    def day(self, moment: datetime) -> date:
        """The business's calendar day of an aware moment."""
        return moment.astimezone(self.zone).date()

    def day_start(self, day: date) -> datetime:
        """The moment (UTC) the business's calendar day begins."""
        return datetime.combine(day, time(), self.zone).astimezone(UTC)

    def quarter(self, moment: datetime) -> int:
        """Calendar quarters numbered consecutively: year * 4 + quarter index (0..3)."""
        local = moment.astimezone(self.zone)
        return local.year * 4 + (local.month - 1) // 3

    def quarter_start(self, quarter: int) -> datetime:
        """The moment (UTC) a quarter numbered as by `quarter` begins."""
        first = date(quarter // 4, (quarter % 4) * 3 + 1, 1)
        return self.day_start(first)


UTC_CALENDAR = BusinessCalendar()
