"""Contact keys: e-mail, phone and name normalised so that a lookup finds a customer however
either side typed the value. The keys are stored (lifecycle_contact_keys) and queries are
normalised by the same functions, so both sides always agree.

- e-mail: trimmed and Unicode case-folded (`str.casefold`: "STRAßE" = "strasse").
- phone: its digits, E.164-like: spaces, hyphens, dots, slashes and parentheses dropped, the
  international prefix ("+" or "00") dropped; 1 to 15 digits (E.164's maximum). A number
  written without its country code matches only numbers written the same way.
- name: NFKC-normalised (composed and decomposed accents, full-width letters agree),
  case-folded, whitespace (any Unicode space) collapsed to one space and trimmed.
"""

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CONTACT_FIELDS = ("email", "phone", "name")  # the profile fields a customer is found by
E164_MAX_DIGITS = 15
_PHONE_SEPARATORS = re.compile(r"[\s().\-/]")


class InvalidContact(ValueError):
    """A value that cannot be normalised into a key (the message says why)."""


def email_key(email: str) -> str:
    key = email.strip().casefold()
    if not key:
        raise InvalidContact("is empty")
    return key


def phone_key(phone: str) -> str:
    compact = _PHONE_SEPARATORS.sub("", phone)
    if compact.startswith("+"):
        compact = compact[1:]
    elif compact.startswith("00"):
        compact = compact[2:]
    if not compact.isascii() or not compact.isdigit():
        raise InvalidContact(
            "must be digits, optionally with a leading + and spaces, hyphens, dots or parentheses"
        )
    if len(compact) > E164_MAX_DIGITS:
        raise InvalidContact(f"has more than {E164_MAX_DIGITS} digits")
    return compact


def name_key(name: str) -> str:
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    key = " ".join(folded.split())
    if not key:
        raise InvalidContact("is empty")
    return key


def escape_like(prefix: str) -> str:
    """`prefix` for a LIKE pattern (escape character backslash): its wildcards made literal."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _key_or_none(normalise: Any, value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        key: str = normalise(value)
    except InvalidContact:
        return None  # a value no lookup can match: the customer is not findable by it
    return key


@dataclass(frozen=True, slots=True)
class ContactKeys:
    email: str | None = None
    phone: str | None = None
    name: str | None = None

    @classmethod
    def of(cls, profile: Mapping[str, Any]) -> "ContactKeys":
        """The keys of a customer's current profile values (`name`, `email`, `phone`)."""
        return cls(
            email=_key_or_none(email_key, profile.get("email")),
            phone=_key_or_none(phone_key, profile.get("phone")),
            name=_key_or_none(name_key, profile.get("name")),
        )

    @property
    def empty(self) -> bool:
        return self.email is None and self.phone is None and self.name is None
