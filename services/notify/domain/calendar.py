"""Days in the customer's own calendar (birthday, configured holidays) as triggers."""

from datetime import date, datetime

from .customers import CustomerProfile
from .decisions import zone_of
from .playbooks import DateKind, PlaybookBook, TriggerKind
from .triggers import Trigger


def is_birthday(birthday: date, today: date) -> bool:
    """29 February birthdays are celebrated on 28 February in common years."""
    if (birthday.month, birthday.day) == (today.month, today.day):
        return True
    leap = today.year % 4 == 0 and (today.year % 100 != 0 or today.year % 400 == 0)
    return (
        (birthday.month, birthday.day) == (2, 29)
        and (today.month, today.day) == (2, 28)
        and not leap
    )


def calendar_triggers(profile: CustomerProfile, book: PlaybookBook, now: datetime) -> list[Trigger]:
    """Today's date triggers for one customer; occurrence ids make each day count once."""
    today = now.astimezone(zone_of(profile, book.policy)).date()
    found: dict[str, Trigger] = {}
    for playbook in book.date_playbooks():
        spec = playbook.trigger
        if (
            spec.date is DateKind.BIRTHDAY
            and profile.birthday
            and is_birthday(profile.birthday, today)
        ):
            found["birthday"] = Trigger(
                TriggerKind.DATE,
                profile.customer_id,
                f"birthday:{today.year}",
                now,
                date="birthday",
            )
        elif spec.date is DateKind.HOLIDAY:
            for name in spec.holidays_on(today):
                found[f"holiday:{name}"] = Trigger(
                    TriggerKind.DATE,
                    profile.customer_id,
                    f"holiday:{name}:{today.isoformat()}",
                    now,
                    date=f"holiday:{name}",
                    context={"holiday": name},
                )
    return list(found.values())
