"""What notify knows about a customer: contact details, consent, preferences, stage and tier."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from .playbooks import Channel, Policy


@dataclass(frozen=True)
class CustomerProfile:
    customer_id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    locale: str | None = None
    timezone: str | None = None
    birthday: date | None = None
    consent: Mapping[str, bool] = field(default_factory=dict)  # from profile events
    preferences: Mapping[str, bool] = field(default_factory=dict)  # PUT .../preferences
    stage: str | None = None
    tier: str = "C"
    scores: Mapping[str, float | None] = field(default_factory=dict)  # clm.customer-scores.v1

    def opted_in(self, channel: Channel) -> bool:
        """The latest explicit choice wins: the customer's own preference, then profile consent."""
        if channel.value in self.preferences:
            return self.preferences[channel.value]
        return self.consent.get(channel.value, True)

    def address(self, channel: Channel) -> str | None:
        if channel is Channel.EMAIL:
            return self.email
        if channel is Channel.SMS:
            return self.phone
        return "account-manager"

    def context(self, policy: Policy) -> dict[str, object]:
        return {
            "customer_id": self.customer_id,
            "name": self.name,
            "stage": self.stage,
            "tier": self.tier,
            "clv_band": policy.clv_band(self.scores.get("clv")),
        }


PROFILE_FIELDS = ("name", "email", "phone", "locale", "timezone", "birthday")


def merge_profile(
    profile: CustomerProfile,
    fields: dict[str, object],
    at: datetime,
    profile_at: datetime | None,
) -> tuple[CustomerProfile, datetime | None]:
    """Event time decides: a newer profile event overrides, an older one only fills gaps."""
    newer = profile_at is None or at >= profile_at
    changes: dict[str, object] = {}
    for name in PROFILE_FIELDS:
        if name in fields and fields[name] is not None:
            if newer or getattr(profile, name) is None:
                changes[name] = fields[name]
    consent = fields.get("consent")
    if isinstance(consent, dict):
        merged = dict(profile.consent)
        for channel, value in consent.items():
            if value is not None and (newer or channel not in merged):
                merged[channel] = bool(value)
        changes["consent"] = merged
    updated = replace(profile, **changes)  # type: ignore[arg-type]
    return updated, (at if newer else profile_at)
