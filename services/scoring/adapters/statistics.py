"""SQL that turns stored occasions and signals into per-customer Statistics.

A purchase occasion row is one customer's calendar day (the business's, CLM_BUSINESS_TIMEZONE). ``min(ARRAY[day, amount])``
picks the amount of the first occasion in the same pass as the other aggregates.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import numpy as np

from services.scoring.service_layer.publishing import Published
from services.scoring.service_layer.scorer import Statistics
from shared.business_calendar import BusinessCalendar

EPOCH = date(1970, 1, 1)

# Purchases up to :as_of exactly: whole days before its day, and on its day the occasions
# whose orders all came before it; a day split by :as_of (orders before and after it) is
# re-summed from its orders. Two formulations of the same rows:
# - every customer (fit, bulk rescore): scan the occasions, and separately the day's orders;
OCCASIONS_UP_TO = """
    SELECT customer_id, day, amount FROM scoring_occasions
    WHERE day < :day OR (day = :day AND last_at <= :as_of)
    UNION ALL
    SELECT p.customer_id, :day, sum(p.amount)
    FROM scoring_occasions o
    JOIN scoring_purchases p ON p.customer_id = o.customer_id
        AND p.occurred_at >= :day_start AND p.occurred_at <= :as_of
    WHERE o.day = :day AND o.first_at <= :as_of AND o.last_at > :as_of
    GROUP BY p.customer_id
"""
# - listed customers (a batch, one customer): one index pass over their occasions, the split
#   day re-summed in a subquery that only such rare rows run. {filter} limits all of it (an
#   earlier "A OR B AND listed" limited only B, so a batch read aggregated every customer).
OCCASIONS_UP_TO_LISTED = """
    SELECT * FROM (
        SELECT o.customer_id, o.day,
               CASE WHEN o.day = :day AND o.last_at > :as_of THEN
                   (SELECT sum(p.amount) FROM scoring_purchases p
                    WHERE p.customer_id = o.customer_id
                      AND p.occurred_at >= :day_start AND p.occurred_at <= :as_of)
               ELSE o.amount END AS amount
        FROM scoring_occasions o
        WHERE (o.day < :day OR (o.day = :day AND o.first_at <= :as_of)) {filter}
    ) AS up_to WHERE amount IS NOT NULL
"""

PER_CUSTOMER = """
    SELECT customer_id, count(*)::int AS n,
           min(day) - DATE '1970-01-01' AS first_day,
           max(day) - DATE '1970-01-01' AS last_day,
           sum(amount) AS total,
           (min(ARRAY[(day - DATE '1970-01-01')::float8, amount]))[2] AS first_amount
    FROM occ GROUP BY customer_id
"""

# Churn signals at :as_of: complaints open then or opened within the window; inbound
# contacts within the window; the satisfaction given last.
COMPLAINTS = """
    SELECT customer_id,
           count(*) FILTER (WHERE opened_at <= :as_of
                            AND (resolved_at IS NULL OR resolved_at > :as_of
                                 OR opened_at > :since))::int AS complaints,
           (array_agg(satisfaction ORDER BY satisfaction_at DESC)
               FILTER (WHERE satisfaction IS NOT NULL AND satisfaction_at <= :as_of))[1]
               AS satisfaction
    FROM scoring_complaints {where} GROUP BY customer_id
"""

# The latest NPS answer (0..10) at :as_of, from contacts and complaint tickets.
NPS = """
    SELECT customer_id, (array_agg(nps ORDER BY at DESC))[1]::float8 AS nps FROM (
        SELECT customer_id, occurred_at AS at, nps FROM scoring_contacts
        WHERE nps IS NOT NULL AND occurred_at <= :as_of {filter}
        UNION ALL
        SELECT customer_id, nps_at, nps FROM scoring_complaints
        WHERE nps IS NOT NULL AND nps_at <= :as_of {filter}
    ) AS answers GROUP BY customer_id
"""

CONTACTS = """
    SELECT customer_id, count(*)::int AS contacts FROM scoring_contacts
    WHERE inbound AND occurred_at > :since AND occurred_at <= :as_of {filter}
    GROUP BY customer_id
"""


def time_params(
    as_of: datetime, signal_window_days: float, calendar: BusinessCalendar
) -> dict[str, Any]:
    moment = as_of.astimezone(UTC)
    day = calendar.day(moment)
    return {
        "as_of": moment,
        "day": day,
        "day_start": calendar.day_start(day),
        "since": moment - timedelta(days=signal_window_days),
    }


def day_number(moment: datetime, calendar: BusinessCalendar) -> int:
    return (calendar.day(moment) - EPOCH).days


def _floats(values: list[Any]) -> Any:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


@dataclass(frozen=True)
class CustomerRows:
    """Statistics of a set of customers, with what the store knows beside them."""

    customer_ids: list[str]
    revisions: list[int]
    stats: Statistics
    published: Published
    acquisition_costs: Any

    def __len__(self) -> int:
        return len(self.customer_ids)


def customer_rows(columns: dict[str, list[Any]], as_of_day: int) -> CustomerRows:
    n = len(columns["customer_id"])
    stats = Statistics(
        occasions=np.array(columns["n"], dtype=np.int64).reshape(n),
        first_day=np.array(columns["first_day"], dtype=np.int64).reshape(n),
        last_day=np.array(columns["last_day"], dtype=np.int64).reshape(n),
        total_spend=_floats(columns["total"]).reshape(n),
        first_amount=_floats(columns["first_amount"]).reshape(n),
        as_of_day=as_of_day,
        complaints=np.array(columns["complaints"], dtype=np.float64).reshape(n),
        contacts=np.array(columns["contacts"], dtype=np.float64).reshape(n),
        satisfaction=_floats(columns["satisfaction"]).reshape(n),
        nps=_floats(columns["nps"]).reshape(n),
        first_seen_day=np.array(columns["first_seen_day"], dtype=np.int64).reshape(n),
    )
    published = Published(
        p_alive=_floats(columns["published_p_alive"]).reshape(n),
        churn_risk=_floats(columns["published_churn_risk"]).reshape(n),
        clv=_floats(columns["published_clv"]).reshape(n),
        segment=np.array([s or "" for s in columns["published_segment"]], dtype=str).reshape(n),
    )
    return CustomerRows(
        customer_ids=list(columns["customer_id"]),
        revisions=list(columns["revision"]),
        stats=stats,
        published=published,
        acquisition_costs=_floats(columns["acquisition_cost"]).reshape(n),
    )


ROW_COLUMNS = (
    "customer_id",
    "revision",
    "n",
    "first_day",
    "last_day",
    "total",
    "first_amount",
    "complaints",
    "contacts",
    "satisfaction",
    "nps",
    "first_seen_day",
    "published_p_alive",
    "published_churn_risk",
    "published_clv",
    "published_segment",
    "acquisition_cost",
)


# Which customers a statistics query covers: every stored one ("all"), the stored ones among
# :ids ("known"; unknown ids give no row), or every id in :ids ("batch"; online scoring, where
# the batch's new customers are not stored yet and get a row of defaults).
Coverage = Literal["all", "known", "batch"]


def customers_query(coverage: Coverage) -> str:
    """Statistics as of :as_of of the customers ``coverage`` names."""
    listed = coverage != "all"
    ids = "ANY(CAST(:ids AS varchar[]))"
    and_listed = f"AND customer_id = {ids}" if listed else ""
    occasions = (
        OCCASIONS_UP_TO_LISTED.format(filter=f"AND o.customer_id = {ids}")
        if listed
        else OCCASIONS_UP_TO
    )
    where = f"WHERE customer_id = {ids}" if listed else ""
    if coverage == "batch":
        source = (
            "unnest(CAST(:ids AS varchar[])) AS b(customer_id) "
            "LEFT JOIN scoring_customers c ON c.customer_id = b.customer_id"
        )
        key, chosen = "b.customer_id", ""
    else:
        source = "scoring_customers c"
        key, chosen = "c.customer_id", (f"WHERE c.customer_id = {ids}" if listed else "")
    return f"""
    WITH occ AS ({occasions}),
         per AS ({PER_CUSTOMER}),
         com AS ({COMPLAINTS.format(where=where)}),
         con AS ({CONTACTS.format(filter=and_listed)}),
         nps AS ({NPS.format(filter=and_listed)})
    SELECT {key} AS customer_id, coalesce(c.revision, 0) AS revision,
           coalesce(per.n, 0) AS n, coalesce(per.first_day, 0) AS first_day,
           coalesce(per.last_day, 0) AS last_day, coalesce(per.total, 0) AS total,
           coalesce(per.first_amount, 0) AS first_amount,
           coalesce(com.complaints, 0) AS complaints, coalesce(con.contacts, 0) AS contacts,
           com.satisfaction::float8 AS satisfaction, nps.nps,
           coalesce((c.first_seen_at AT TIME ZONE 'UTC')::date - DATE '1970-01-01',
                    :day - DATE '1970-01-01') AS first_seen_day,
           c.published_p_alive, c.published_churn_risk, c.published_clv, c.published_segment,
           c.acquisition_cost
    FROM {source}
    LEFT JOIN per ON per.customer_id = {key}
    LEFT JOIN com ON com.customer_id = {key}
    LEFT JOIN con ON con.customer_id = {key}
    LEFT JOIN nps ON nps.customer_id = {key}
    {chosen}
    """


def as_columns_query(query: str) -> str:
    """Wraps a row query so that one row of arrays comes back (fast to decode in bulk)."""
    aggregates = ", ".join(f"array_agg({name}) AS {name}" for name in ROW_COLUMNS)
    return f"SELECT {aggregates} FROM ({query}) AS rows"


def population_query() -> str:
    """Only the numbers the population fit needs, as arrays."""
    return f"""
    WITH occ AS ({OCCASIONS_UP_TO}), per AS ({PER_CUSTOMER})
    SELECT array_agg(n) AS n, array_agg(first_day) AS first_day,
           array_agg(last_day) AS last_day, array_agg(total) AS total,
           array_agg(first_amount) AS first_amount
    FROM per
    """
