"""Demo customers that behave like real ones, as contract-shaped events (pure: seeded RNG, no I/O).

Purchase timing and dropout come from the BG/NBD process and spend from the Gamma-Gamma
process of the scoring domain's population simulator, so a fit on the demo data recovers
parameters near `DemoPopulation`'s. Everything else (prospects who never buy, contacts,
complaints, profiles, consent) is drawn around those purchase histories.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from services.scoring.domain.bgnbd import BgNbdParams
from services.scoring.domain.gamma_gamma import GammaGammaParams
from services.scoring.domain.simulation import simulate_bgnbd, simulate_mean_spend

WEEK = timedelta(weeks=1)
Event = dict[str, Any]


@dataclass(frozen=True)
class Market:
    locale: str
    share: float
    time_zones: Sequence[str]
    surnames: Sequence[str]
    given_names: Sequence[str]
    phone_prefix: str
    email_domain: str


MARKETS = (
    Market(
        locale="zh-CN",
        share=0.6,
        time_zones=("Asia/Shanghai", "Asia/Shanghai", "Asia/Shanghai", "Asia/Chongqing"),
        surnames=("王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙"),
        given_names=("伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "婷"),
        phone_prefix="+86 13",
        email_domain="example.cn",
    ),
    Market(
        locale="en",
        share=0.4,
        time_zones=(
            "Europe/London",
            "America/New_York",
            "America/Los_Angeles",
            "Asia/Singapore",
            "Australia/Sydney",
        ),
        surnames=("Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Walker", "Clarke"),
        given_names=("Olivia", "James", "Amelia", "Noah", "Isla", "Jack", "Grace", "Leo"),
        phone_prefix="+44 7700 9",
        email_domain="example.com",
    ),
)

CATEGORIES = ("bearings", "hydraulics", "sensors", "fasteners", "motors", "tooling")
ORDER_CHANNELS = ("sales_rep", "web", "distributor")
CONTACT_CHANNELS = ("phone", "email", "chat", "visit", "sms", "social")
CONTACT_TOPICS = ("quote", "order_status", "delivery", "invoice", "technical_support")
COMPLAINT_CATEGORIES = ("delivery", "quality", "billing", "service")
SEVERITIES = ("low", "medium", "high", "critical")
SEGMENTS = ("enterprise", "mid_market", "small_business")


@dataclass(frozen=True)
class DemoPopulation:
    """Who the demo customers are; rates are per week (the scoring default time unit)."""

    # BG/NBD: purchase rate λ ~ Gamma(r, α) per week, dropout after a purchase p ~ Beta(a, b).
    bgnbd: BgNbdParams = field(default_factory=lambda: BgNbdParams(r=0.6, alpha=5.0, a=0.7, b=3.0))
    # Gamma-Gamma spend in CNY: a mean order value near 60,000 with a long tail of big buyers.
    gamma_gamma: GammaGammaParams = field(
        default_factory=lambda: GammaGammaParams(p=6.0, q=3.5, gamma=25_000.0)
    )
    currency: str = "CNY"
    prospect_share: float = 0.12  # seen (profile, contacts) but never buy
    complaint_share: float = 0.18  # buyers who ever complain
    resolved_share: float = 0.65  # complaints that get resolved
    contacts_per_week: float = 0.08
    profile_update_share: float = 0.25
    birthday_share: float = 0.85
    nps_share: float = 0.2  # contacts and resolved complaints that carry an NPS answer


def demo_events(
    customers: int,
    days: int,
    seed: int,
    now: datetime,
    population: DemoPopulation | None = None,
) -> list[Event]:
    """Events of `customers` customers first seen during the `days` before `now`, in time order.

    The same arguments give the same events (ids included), so seeding twice is a no-op
    for the platform: every event id is already known.
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if customers < 0 or days < 1:
        raise ValueError("customers must be >= 0 and days >= 1")
    pop = population or DemoPopulation()
    rng = np.random.default_rng(seed)
    now = now.astimezone(UTC).replace(microsecond=0)
    span = timedelta(days=days)
    # A growing business: more customers were acquired recently than at the start.
    first_seen = [now - span * (1 - float(u) ** 0.8) for u in rng.random(customers)]
    buys = rng.random(customers) >= pop.prospect_share
    delays = rng.exponential(7.0, customers)  # days from first being seen to the first order
    first_purchase = [
        seen + timedelta(days=float(delay)) if buy else None
        for seen, buy, delay in zip(first_seen, buys, delays, strict=True)
    ]
    buys &= np.array([fp is not None and fp < now for fp in first_purchase], dtype=bool)
    age_weeks = np.array(
        [
            (now - fp) / WEEK if buy and fp else 0.0
            for fp, buy in zip(first_purchase, buys, strict=True)
        ]
    )
    purchases = simulate_bgnbd(pop.bgnbd, age_weeks, rng)
    mean_spend = simulate_mean_spend(pop.gamma_gamma, np.maximum(purchases.frequency, 1), rng)

    # Scalar draws per customer use Python's generator (much faster than numpy's for scalars),
    # seeded from the population RNG so the whole data set still follows from `seed`.
    customer_seeds = rng.integers(0, 2**63, customers)
    out: list[tuple[datetime, Event]] = []
    width = max(5, len(str(customers)))
    for i in range(customers):
        rand = random.Random(int(customer_seeds[i]))
        customer = _Customer(
            rng=rand,
            pop=pop,
            seed=seed,
            customer_id=f"demo{seed}-{i:0{width}d}",
            market=_pick_market(rand),
            first_seen=first_seen[i],
            now=now,
        )
        customer.profile()
        if buys[i]:
            fp = first_purchase[i]
            assert fp is not None
            customer.purchases(
                fp, int(purchases.frequency[i]), float(purchases.recency[i]), float(mean_spend[i])
            )
            customer.contacts(fp, now)
            if rand.random() < pop.complaint_share:
                customer.complaints(fp)
        else:
            customer.prospect_contacts()
        out.extend(customer.events)
    out.sort(key=lambda pair: (pair[0], pair[1]["event_id"]))
    return [event for _, event in out]


def _pick_market(rng: random.Random) -> Market:
    return rng.choices(MARKETS, weights=[m.share for m in MARKETS])[0]


def _pick(rng: random.Random, options: Sequence[str]) -> str:
    return options[rng.randrange(len(options))]


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; the means here are small (a few dozen at most)."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


class _Customer:
    """Accumulates one customer's events; `events` pairs each with its UTC moment for sorting."""

    def __init__(
        self,
        *,
        rng: random.Random,
        pop: DemoPopulation,
        seed: int,
        customer_id: str,
        market: Market,
        first_seen: datetime,
        now: datetime,
    ) -> None:
        self.rng, self.pop, self.seed = rng, pop, seed
        self.customer_id, self.market = customer_id, market
        self.first_seen, self.now = first_seen, now
        self.zone = _pick(rng, market.time_zones)
        self.home_category = _pick(rng, CATEGORIES)
        self.events: list[tuple[datetime, Event]] = []
        self._nps_mean: float | None = None

    @property
    def nps(self) -> int:
        """Answers scatter around the customer's own view of the business."""
        if self._nps_mean is None:
            self._nps_mean = self.rng.triangular(0.0, 10.0, 8.0)
        return min(10, max(0, round(self.rng.gauss(self._nps_mean, 1.5))))

    def _add(self, kind: str, at: datetime, data: dict[str, Any], source: str) -> None:
        at = min(at, self.now).replace(microsecond=0)
        local = at.astimezone(ZoneInfo(self.zone))
        event = {
            "event_id": f"{self.customer_id}-{len(self.events):04d}",
            "type": kind,
            "customer_id": self.customer_id,
            "occurred_at": local.isoformat(),
            "source": source,
            "data": data,
        }
        self.events.append((at, event))

    def _between(self, start: datetime, end: datetime) -> datetime:
        return start + (end - start) * self.rng.random()

    def profile(self) -> None:
        rng, market = self.rng, self.market
        surname, given = _pick(rng, market.surnames), _pick(rng, market.given_names)
        name = f"{surname}{given}" if market.locale == "zh-CN" else f"{given} {surname}"
        handle = self.customer_id.replace("-", ".")
        data: dict[str, Any] = {
            "name": name,
            "email": f"{handle}@{market.email_domain}",
            "phone": f"{market.phone_prefix}{rng.randrange(10**7, 10**8)}",
            "locale": market.locale,
            "timezone": self.zone,
            "consent": {"email": bool(rng.random() < 0.8), "sms": bool(rng.random() < 0.5)},
            "acquisition_cost": f"{rng.gammavariate(2.0, 400.0):.2f}",
            "attributes": {"segment": _pick(rng, SEGMENTS), "industry": self.home_category},
        }
        if rng.random() < self.pop.birthday_share:
            data["birthday"] = _birthday(rng, self.now.date())
        self._add("profile", self.first_seen, data, "demo-crm")
        if rng.random() < self.pop.profile_update_share:
            update = (
                {"consent": {"email": bool(rng.random() < 0.5), "sms": bool(rng.random() < 0.3)}}
                if rng.random() < 0.5
                else {"email": f"{handle}.new@{market.email_domain}"}
            )
            self._add("profile", self._between(self.first_seen, self.now), update, "demo-crm")

    def purchases(self, first: datetime, repeats: int, last_week: float, mean: float) -> None:
        """The first purchase, then `repeats` more: the last at `last_week`, the others uniform
        before it (arrival times of a Poisson process given their count)."""
        rng = self.rng
        weeks = sorted([0.0, *(rng.random() * last_week for _ in range(max(repeats - 1, 0)))])
        if repeats > 0:
            weeks.append(last_week)
        # Order values around the customer's mean; their average is exactly that mean.
        spread = [rng.gammavariate(self.pop.gamma_gamma.p, 1.0) for _ in weeks]
        amounts = [mean * s * len(spread) / sum(spread) for s in spread]
        categories = [self.home_category]
        for n, (week, amount) in enumerate(zip(weeks, amounts, strict=True)):
            if rng.random() < 0.08:
                categories.append(_pick(rng, CATEGORIES))
            category = rng.choice(categories)
            data = {
                "order_id": f"{self.customer_id}-o{n}",
                "amount": f"{max(amount, 1.0):.2f}",
                "currency": self.pop.currency,
                "cost": f"{max(amount, 1.0) * rng.uniform(0.55, 0.8):.2f}",
                "category": category,
                "channel": _pick(rng, ORDER_CHANNELS),
            }
            self._add("purchase", first + week * WEEK, data, "demo-orders")

    def contacts(self, start: datetime, end: datetime) -> None:
        propensity = self.rng.gammavariate(1.5, 1 / 1.5)
        weeks = (end - start) / WEEK
        count = min(_poisson(self.rng, self.pop.contacts_per_week * propensity * weeks), 30)
        for _ in range(count):
            self._contact(self._between(start, end))

    def prospect_contacts(self) -> None:
        horizon = min(self.now, self.first_seen + timedelta(days=60))
        self._contact(self.first_seen + timedelta(minutes=5))
        for _ in range(_poisson(self.rng, 1.0)):
            self._contact(self._between(self.first_seen, horizon))

    def _contact(self, at: datetime) -> None:
        rng = self.rng
        data: dict[str, Any] = {
            "channel": _pick(rng, CONTACT_CHANNELS),
            "direction": "inbound" if rng.random() < 0.55 else "outbound",
            "topic": _pick(rng, CONTACT_TOPICS),
            "outcome": _pick(rng, ("answered", "follow_up", "quote_sent", "no_answer")),
        }
        if rng.random() < self.pop.nps_share:  # a relationship survey on the call
            data["nps"] = self.nps
        self._add("contact", at, data, "demo-crm")

    def complaints(self, since: datetime) -> None:
        rng = self.rng
        count = 1 + _poisson(rng, 0.7)
        # Some complaints come in bursts (two within a month: the customer is at risk).
        anchor = self._between(since, self.now)
        for n in range(count):
            opened = anchor + timedelta(days=rng.uniform(0, 25)) if n else anchor
            if opened >= self.now:
                continue
            ticket = f"{self.customer_id}-t{n}"
            severity = _pick(rng, SEVERITIES)
            base = {
                "ticket_id": ticket,
                "severity": severity,
                "category": _pick(rng, COMPLAINT_CATEGORIES),
            }
            self._add("complaint", opened, {**base, "status": "opened"}, "demo-helpdesk")
            resolved = opened + timedelta(days=rng.gammavariate(2.0, 3.0))
            if rng.random() < self.pop.resolved_share and resolved < self.now:
                satisfaction = rng.randint(1, 5)
                data = {**base, "status": "resolved", "satisfaction": satisfaction}
                if rng.random() < self.pop.nps_share:
                    data["nps"] = min(10, max(0, 2 * satisfaction + rng.randint(-2, 0)))
                self._add("complaint", resolved, data, "demo-helpdesk")


def _birthday(rng: random.Random, today: date) -> str:
    born = today - timedelta(days=rng.randrange(20 * 365, 70 * 365))
    return born.isoformat()
