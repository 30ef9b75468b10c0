"""Read-only SQL behind the list endpoints: top-N by a score, cohort retention."""

import base64
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

TopBy = Literal["clv", "churn_risk"]


def encode_cursor(value: float, customer_id: str) -> str:
    return base64.urlsafe_b64encode(f"{value!r}\x1f{customer_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[float, str]:
    value, customer_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("\x1f", 1)
    return float(value), customer_id


async def top_customers(
    conn: AsyncConnection, by: TopBy, limit: int, cursor: tuple[float, str] | None
) -> list[dict[str, Any]]:
    after = f"AND ({by} < :value OR ({by} = :value AND customer_id > :customer))" if cursor else ""
    query = sa.text(f"""
        SELECT customer_id, clv, churn_risk, p_alive, expected_purchases, segment,
               health_score, model_id
        FROM scoring_customers WHERE {by} IS NOT NULL {after}
        ORDER BY {by} DESC, customer_id LIMIT :limit
    """)
    params: dict[str, Any] = {"limit": limit}
    if cursor:
        params["value"], params["customer"] = cursor
    return [dict(row) for row in (await conn.execute(query, params)).mappings()]


_COHORTS = sa.text("""
    WITH cohort AS (
        SELECT customer_id, date_trunc('month', first_purchase_day)::date AS month,
               date_trunc('month', last_purchase_day)::date AS last_month
        FROM scoring_customers
        WHERE first_purchase_day IS NOT NULL
          AND first_purchase_day >= date_trunc('month', CAST(:since AS date))
    ),
    activity AS (
        SELECT c.month, (extract(year FROM o.day)::int * 12 + extract(month FROM o.day)::int)
                        - (extract(year FROM c.month)::int * 12
                           + extract(month FROM c.month)::int) AS period,
               count(DISTINCT o.customer_id)::int AS active
        FROM cohort c JOIN scoring_occasions o ON o.customer_id = c.customer_id
        GROUP BY 1, 2
    ),
    retained AS (
        SELECT month, (extract(year FROM last_month)::int * 12
                       + extract(month FROM last_month)::int)
                      - (extract(year FROM month)::int * 12
                         + extract(month FROM month)::int) AS last_period,
               count(*)::int AS customers
        FROM cohort GROUP BY 1, 2
    )
    SELECT 'active' AS kind, month, period, active AS customers FROM activity
    UNION ALL
    SELECT 'last', month, last_period, customers FROM retained
    ORDER BY 2, 3
""")


async def cohort_rows(conn: AsyncConnection, since: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in (await conn.execute(_COHORTS, {"since": since})).mappings()]
