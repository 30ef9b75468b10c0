"""The scoring service's tables (Alembic migration 0004 creates them)."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import BYTEA, JSONB

from shared.db import metadata

_ID = sa.String(128)

customers = sa.Table(
    "scoring_customers",
    metadata,
    sa.Column("customer_id", _ID, primary_key=True),
    sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
    # Bumped by every online update; a bulk rescore only overwrites rows it read unchanged.
    sa.Column("revision", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("acquisition_cost", sa.Float),
    sa.Column("acquisition_cost_at", sa.DateTime(timezone=True)),
    sa.Column("occasions", sa.Integer, nullable=False, server_default="0"),
    sa.Column("first_purchase_day", sa.Date),
    sa.Column("last_purchase_day", sa.Date),
    sa.Column("total_spend", sa.Float, nullable=False, server_default="0"),
    sa.Column("frequency", sa.Integer),
    sa.Column("recency", sa.Float),
    sa.Column("age", sa.Float),
    sa.Column("monetary", sa.Float),
    sa.Column("complaints", sa.Integer, nullable=False, server_default="0"),
    sa.Column("contacts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("satisfaction", sa.Float),
    sa.Column("model_id", sa.String(64)),
    sa.Column("time_unit", sa.String(8)),
    sa.Column("horizon", sa.Float),
    sa.Column("scored_at", sa.DateTime(timezone=True)),
    sa.Column("p_alive", sa.Float),
    sa.Column("churn_risk", sa.Float),
    sa.Column("expected_purchases", sa.Float),
    sa.Column("expected_avg_spend", sa.Float),
    sa.Column("clv", sa.Float),
    sa.Column("rfm_recency", sa.SmallInteger),
    sa.Column("rfm_frequency", sa.SmallInteger),
    sa.Column("rfm_monetary", sa.SmallInteger),
    sa.Column("segment", sa.String(32)),
    sa.Column("health_score", sa.Float),
    sa.Column("published_p_alive", sa.Float),
    sa.Column("published_churn_risk", sa.Float),
    sa.Column("published_clv", sa.Float),
    sa.Column("published_segment", sa.String(32)),
    sa.Index("ix_scoring_customers_clv", sa.desc("clv"), "customer_id"),
    sa.Index("ix_scoring_customers_churn_risk", sa.desc("churn_risk"), "customer_id"),
    sa.Index("ix_scoring_customers_first_purchase_day", "first_purchase_day"),
)

occasions = sa.Table(
    "scoring_occasions",
    metadata,
    sa.Column("customer_id", _ID, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("amount", sa.Float, nullable=False),
    sa.Column("orders", sa.Integer, nullable=False),
    sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
)

purchases = sa.Table(
    "scoring_purchases",
    metadata,
    sa.Column("customer_id", _ID, primary_key=True),
    sa.Column("event_id", sa.String(128), primary_key=True),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("amount", sa.Float, nullable=False),
)

# Every purchase event as a version of its order, and every refund (migration 0013_h3);
# scoring_purchases holds one row per order that counts, derived from them.
order_versions = sa.Table(
    "scoring_order_versions",
    metadata,
    sa.Column("customer_id", _ID, primary_key=True),
    sa.Column("event_id", sa.String(128), primary_key=True),
    sa.Column("order_id", sa.String(256), nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("amount", sa.Float, nullable=False),
)

refunds = sa.Table(
    "scoring_refunds",
    metadata,
    sa.Column("customer_id", _ID, primary_key=True),
    sa.Column("event_id", sa.String(128), primary_key=True),
    sa.Column("order_id", sa.String(256), nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("amount", sa.Float),
)

complaints = sa.Table(
    "scoring_complaints",
    metadata,
    sa.Column("customer_id", _ID, primary_key=True),
    sa.Column("ticket_id", sa.String(256), primary_key=True),
    sa.Column("opened_at", sa.DateTime(timezone=True)),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sa.Column("satisfaction", sa.SmallInteger),
    sa.Column("satisfaction_at", sa.DateTime(timezone=True)),
    sa.Column("nps", sa.SmallInteger),  # the latest 0..10 answer on the ticket
    sa.Column("nps_at", sa.DateTime(timezone=True)),
)

contacts = sa.Table(
    "scoring_contacts",
    metadata,
    sa.Column("customer_id", _ID, primary_key=True),
    sa.Column("event_id", sa.String(128), primary_key=True),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("inbound", sa.Boolean, nullable=False),
    sa.Column("nps", sa.SmallInteger),  # 0..10 when the contact carried an NPS answer
)

models = sa.Table(
    "scoring_models",
    metadata,
    sa.Column("model_id", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
    sa.Column("time_unit", sa.String(8), nullable=False),
    sa.Column("bgnbd", JSONB, nullable=False),
    sa.Column("gamma_gamma", JSONB, nullable=False),
    sa.Column("rfm_cuts", JSONB, nullable=False),
    sa.Column("converged", sa.Boolean, nullable=False),
    sa.Column("fit_seconds", sa.Float, nullable=False),
    sa.Column("extract_seconds", sa.Float, nullable=False),
    # The fit's collapsed (x, t_x, T, weight) rows as .npz, for the population forecast.
    sa.Column("summary", BYTEA, nullable=False),
    sa.Column("rescore_status", sa.String(16), nullable=False),
    sa.Column("rescored_customers", sa.Integer),
    sa.Column("rescore_seconds", sa.Float),
    sa.Index("ix_scoring_models_created_at", "created_at"),
)
