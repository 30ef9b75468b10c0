"""SQL that turns stored occasions and signals into per-customer Statistics.

A purchase occasion row is one customer's calendar day (UTC). ``min(ARRAY[day, amount])``
picks the amount of the first occasion in the same pass as the other aggregates.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from services.scoring.service_layer.publishing import Published
from services.scoring.service_layer.scorer import Statistics

EPOCH = date(1970, 1, 1)

# Purchases up to :as_of exactly: whole days before its day, and on its day the occasions
# whose orders all came before it; a day split by :as_of is re-summed from its orders.
OCCASIONS_UP_TO = """
    SELECT customer_id, day, amount FROM scoring_occasions
    WHERE day < :day OR (day = :day AND last_at <= :as_of) {filter}
    UNION ALL
    SELECT p.customer_id, :day, sum(p.amount)
    FROM scoring_occasions o
    JOIN scoring_purchases p ON p.customer_id = o.customer_id
        AND p.occurred_at >= :day_start AND p.occurred_at <= :as_of
    WHERE o.day = :day AND o.first_at <= :as_of AND o.last_at > :as_of {o_filter}
    GROUP BY p.customer_id
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

CONTACTS = """
    SELECT customer_id, count(*)::int AS contacts FROM scoring_contacts
    WHERE inbound AND occurred_at > :since AND occurred_at <= :as_of {filter}
    GROUP BY customer_id
"""


def time_params(as_of: datetime, signal_window_days: float) -> dict[str, Any]:
    moment = as_of.astimezone(UTC)
    day = moment.date()
    return {
        "as_of": moment,
        "day": day,
        "day_start": datetime(day.year, day.month, day.day, tzinfo=UTC),
        "since": moment - timedelta(days=signal_window_days),
    }


def day_number(moment: datetime) -> int:
    return (moment.astimezone(UTC).date() - EPOCH).days


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
    "published_p_alive",
    "published_churn_risk",
    "published_clv",
    "published_segment",
    "acquisition_cost",
)


def customers_query(*, only_listed: bool) -> str:
    """Every stored customer, or those in :ids, with statistics as of :as_of."""
    listed = "AND customer_id = ANY(CAST(:ids AS varchar[]))" if only_listed else ""
    o_listed = "AND o.customer_id = ANY(CAST(:ids AS varchar[]))" if only_listed else ""
    where = "WHERE customer_id = ANY(CAST(:ids AS varchar[]))" if only_listed else ""
    chosen = "WHERE c.customer_id = ANY(CAST(:ids AS varchar[]))" if only_listed else ""
    return f"""
    WITH occ AS ({OCCASIONS_UP_TO.format(filter=listed, o_filter=o_listed)}),
         per AS ({PER_CUSTOMER}),
         com AS ({COMPLAINTS.format(where=where)}),
         con AS ({CONTACTS.format(filter=listed)})
    SELECT c.customer_id, c.revision,
           coalesce(per.n, 0) AS n, coalesce(per.first_day, 0) AS first_day,
           coalesce(per.last_day, 0) AS last_day, coalesce(per.total, 0) AS total,
           coalesce(per.first_amount, 0) AS first_amount,
           coalesce(com.complaints, 0) AS complaints, coalesce(con.contacts, 0) AS contacts,
           com.satisfaction::float8 AS satisfaction,
           c.published_p_alive, c.published_churn_risk, c.published_clv, c.published_segment,
           c.acquisition_cost
    FROM scoring_customers c
    LEFT JOIN per ON per.customer_id = c.customer_id
    LEFT JOIN com ON com.customer_id = c.customer_id
    LEFT JOIN con ON con.customer_id = c.customer_id
    {chosen}
    """


def as_columns_query(query: str) -> str:
    """Wraps a row query so that one row of arrays comes back (fast to decode in bulk)."""
    aggregates = ", ".join(f"array_agg({name}) AS {name}" for name in ROW_COLUMNS)
    return f"SELECT {aggregates} FROM ({query}) AS rows"


def population_query() -> str:
    """Only the numbers the population fit needs, as arrays."""
    return f"""
    WITH occ AS ({OCCASIONS_UP_TO.format(filter="", o_filter="")}), per AS ({PER_CUSTOMER})
    SELECT array_agg(n) AS n, array_agg(first_day) AS first_day,
           array_agg(last_day) AS last_day, array_agg(total) AS total,
           array_agg(first_amount) AS first_amount
    FROM per
    """
