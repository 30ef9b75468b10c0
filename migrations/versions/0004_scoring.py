"""Scoring service: customer facts and scores, purchase occasions, signals, fitted models.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import BYTEA, JSONB

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.String(128)


def _ts(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "scoring_customers",
        sa.Column("customer_id", _ID, primary_key=True),
        _ts("first_seen_at", nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("acquisition_cost", sa.Float),
        _ts("acquisition_cost_at"),
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
        _ts("scored_at"),
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
    )
    op.create_index(
        "ix_scoring_customers_clv", "scoring_customers", [sa.text("clv DESC"), "customer_id"]
    )
    op.create_index(
        "ix_scoring_customers_churn_risk",
        "scoring_customers",
        [sa.text("churn_risk DESC"), "customer_id"],
    )
    op.create_index(
        "ix_scoring_customers_first_purchase_day", "scoring_customers", ["first_purchase_day"]
    )
    op.create_table(
        "scoring_occasions",
        sa.Column("customer_id", _ID, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("amount", sa.Float, nullable=False),
        sa.Column("orders", sa.Integer, nullable=False),
        _ts("first_at", nullable=False),
        _ts("last_at", nullable=False),
    )
    op.create_table(
        "scoring_purchases",
        sa.Column("customer_id", _ID, primary_key=True),
        sa.Column("event_id", sa.String(128), primary_key=True),
        _ts("occurred_at", nullable=False),
        sa.Column("amount", sa.Float, nullable=False),
    )
    op.create_table(
        "scoring_complaints",
        sa.Column("customer_id", _ID, primary_key=True),
        sa.Column("ticket_id", sa.String(256), primary_key=True),
        _ts("opened_at"),
        _ts("resolved_at"),
        sa.Column("satisfaction", sa.SmallInteger),
        _ts("satisfaction_at"),
    )
    op.create_table(
        "scoring_contacts",
        sa.Column("customer_id", _ID, primary_key=True),
        sa.Column("event_id", sa.String(128), primary_key=True),
        _ts("occurred_at", nullable=False),
        sa.Column("inbound", sa.Boolean, nullable=False),
    )
    op.create_table(
        "scoring_models",
        sa.Column("model_id", sa.String(64), primary_key=True),
        _ts("created_at", nullable=False),
        _ts("as_of", nullable=False),
        sa.Column("time_unit", sa.String(8), nullable=False),
        sa.Column("bgnbd", JSONB, nullable=False),
        sa.Column("gamma_gamma", JSONB, nullable=False),
        sa.Column("rfm_cuts", JSONB, nullable=False),
        sa.Column("converged", sa.Boolean, nullable=False),
        sa.Column("fit_seconds", sa.Float, nullable=False),
        sa.Column("extract_seconds", sa.Float, nullable=False),
        sa.Column("summary", BYTEA, nullable=False),
        sa.Column("rescore_status", sa.String(16), nullable=False),
        sa.Column("rescored_customers", sa.Integer),
        sa.Column("rescore_seconds", sa.Float),
    )
    op.create_index("ix_scoring_models_created_at", "scoring_models", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_scoring_models_created_at", "scoring_models")
    op.drop_table("scoring_models")
    op.drop_table("scoring_contacts")
    op.drop_table("scoring_complaints")
    op.drop_table("scoring_purchases")
    op.drop_table("scoring_occasions")
    op.drop_index("ix_scoring_customers_first_purchase_day", "scoring_customers")
    op.drop_index("ix_scoring_customers_churn_risk", "scoring_customers")
    op.drop_index("ix_scoring_customers_clv", "scoring_customers")
    op.drop_table("scoring_customers")
