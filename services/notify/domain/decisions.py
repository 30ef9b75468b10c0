"""The decisions: which steps a trigger schedules, and whether a due message goes out now.

Pure functions of (trigger or message, customer profile, recent sends, clock, policy).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .customers import CustomerProfile
from .holdout import CONTROL_GROUP, Arm, assign
from .playbooks import Channel, Playbook, PlaybookBook, Policy, QuietHours, Step
from .triggers import Trigger, playbooks_for


@dataclass(frozen=True)
class Send:
    reason: str = "due"


@dataclass(frozen=True)
class Suppress:
    reason: str


@dataclass(frozen=True)
class Defer:
    until: datetime
    reason: str


Decision = Send | Suppress | Defer

AWAITING_ADDRESS = "awaiting_address"


@dataclass(frozen=True)
class AddressWait:
    """How long a due step without an address waits for one. Notify reads lifecycle changes
    and profile events on two topics, in two groups: a trigger can arrive before the profile
    carrying the address it needs, so a missing address is final only after `grace`."""

    trigger_at: datetime  # when the trigger occurred
    received_at: datetime  # when notify planned it: a trigger arriving late gets a full grace
    profile_at: datetime | None  # the newest profile event notify merged; None: none yet
    grace: timedelta

    @property
    def until(self) -> datetime:
        return max(self.trigger_at, self.received_at) + self.grace

    def pending(self, now: datetime) -> bool:
        """Within the grace, and no profile seen yet or one that occurred at most `grace`
        before the trigger (more of it may follow); a long-known profile without the address
        will not grow one by waiting."""
        fresh = self.profile_at is None or self.profile_at >= self.trigger_at - self.grace
        return fresh and now < self.until


@dataclass(frozen=True)
class PlannedStep:
    playbook: Playbook
    step: Step
    due_at: datetime
    status: str  # scheduled | suppressed
    reason: str


def zone_of(profile: CustomerProfile, policy: Policy) -> ZoneInfo:
    try:
        return ZoneInfo(profile.timezone or policy.default_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(policy.default_timezone)


def quiet_until(now: datetime, zone: ZoneInfo, quiet: QuietHours) -> datetime | None:
    """The end of the quiet period `now` falls in (customer's local time), or None."""
    if not quiet.enabled or quiet.start == quiet.end:
        return None
    local = now.astimezone(zone)
    t = local.time().replace(tzinfo=None)
    spans_midnight = quiet.start > quiet.end
    if spans_midnight:
        if t >= quiet.start:
            day = local.date() + timedelta(days=1)
        elif t < quiet.end:
            day = local.date()
        else:
            return None
    elif quiet.start <= t < quiet.end:
        day = local.date()
    else:
        return None
    return datetime.combine(day, quiet.end, tzinfo=zone)


def decide(
    channel: Channel,
    profile: CustomerProfile,
    recent_sends: Sequence[datetime],
    now: datetime,
    policy: Policy,
    address_wait: AddressWait | None = None,
) -> Decision:
    """Consent, then an address (defer while `address_wait` is pending, then suppress), then
    quiet hours (defer), then frequency caps (suppress).

    `recent_sends` are this customer's sends on this channel (any playbook), newest or not.
    Staff tasks (webhook) skip the customer-facing rules.
    """
    if not channel.reaches_customer:
        return Send()
    if not profile.opted_in(channel):
        return Suppress(f"opted_out:{channel.value}")
    if not profile.address(channel):
        if address_wait is not None and address_wait.pending(now):
            return Defer(address_wait.until, AWAITING_ADDRESS)
        return Suppress(f"no_address:{channel.value}")
    until = quiet_until(now, zone_of(profile, policy), policy.quiet_hours)
    if until is not None:
        return Defer(until, "quiet_hours")
    for cap in policy.caps_for(channel):
        since = now - cap.window
        if sum(1 for sent in recent_sends if sent > since) >= cap.limit:
            hours = cap.window.total_seconds() / 3600
            return Suppress(f"frequency_cap:{channel.value}:{cap.limit}/{hours:g}h")
    return Send()


def plan(
    trigger: Trigger,
    book: PlaybookBook,
    profile: CustomerProfile,
    now: datetime,
    had_playbooks: Collection[str] = (),
    address_grace: timedelta | None = None,
    profile_at: datetime | None = None,
) -> list[PlannedStep]:
    """The steps a trigger schedules; steps due at once are decided now (consent, quiet hours).

    Delays count from when the trigger occurred (never from the future), so a late-arriving
    trigger keeps its calendar; triggers older than the playbook's max age are suppressed, and
    so are once-per-customer playbooks the customer already had (``had_playbooks``). An
    eligible customer held out in the playbook's (or the global) control group gets every step
    recorded as suppressed, reason control_group. With an `address_grace`, a step due at once
    whose address is missing while the profile (merged at `profile_at`, None: never) may still
    be on its way is scheduled with reason awaiting_address, due when the grace ends.
    """
    planned: list[PlannedStep] = []
    start = min(trigger.occurred_at, now)
    policy = book.policy
    for playbook in playbooks_for(trigger, book):
        stale = now - trigger.occurred_at > playbook.max_trigger_age
        had = playbook.once_per_customer and playbook.name in had_playbooks
        arm = assign(
            trigger.customer_id,
            playbook.name,
            playbook.control_group,
            policy.global_control_group,
            policy.control_salt,
        )
        for step in playbook.steps_for_tier(profile.tier):
            due = start + step.delay
            if had:
                planned.append(PlannedStep(playbook, step, due, "suppressed", "once_per_customer"))
                continue
            if stale:
                planned.append(PlannedStep(playbook, step, due, "suppressed", "stale_trigger"))
                continue
            if arm is Arm.CONTROL:
                planned.append(PlannedStep(playbook, step, due, "suppressed", CONTROL_GROUP))
                continue
            if due > now:
                planned.append(PlannedStep(playbook, step, due, "scheduled", "waiting"))
                continue
            wait = (
                AddressWait(trigger.occurred_at, now, profile_at, address_grace)
                if address_grace is not None
                else None
            )
            decision = decide(step.channel, profile, (), now, book.policy, wait)
            if isinstance(decision, Suppress):
                planned.append(PlannedStep(playbook, step, due, "suppressed", decision.reason))
            elif isinstance(decision, Defer):
                planned.append(
                    PlannedStep(playbook, step, decision.until, "scheduled", decision.reason)
                )
            else:
                planned.append(PlannedStep(playbook, step, now, "scheduled", "due"))
    return planned


def cancels(playbook: Playbook, event_type: str, event_at: datetime, trigger_at: datetime) -> bool:
    """A customer event cancels pending steps when the playbook says so and it came after."""
    return event_type in playbook.cancel_on and event_at >= trigger_at
