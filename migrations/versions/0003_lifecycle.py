"""Lifecycle state, transition log and event-time watermark.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lifecycle_customers",
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("stage_since", sa.DateTime(timezone=True)),
        sa.Column("flags", ARRAY(sa.String(32)), nullable=False),
        sa.Column("tier", sa.String(1), nullable=False),
        sa.Column("lifecycle_pattern", sa.String(16)),
        sa.Column("reactivations", sa.Integer, nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True)),
        sa.Column("first_purchase_at", sa.DateTime(timezone=True)),
        sa.Column("last_purchase_at", sa.DateTime(timezone=True)),
        sa.Column("purchase_occasions", sa.Integer, nullable=False),
        sa.Column("total_spend", sa.Numeric(24, 4), nullable=False),
        sa.Column("trailing_spend", sa.Numeric(24, 4), nullable=False),
        sa.Column("churn_risk", sa.Float),
        sa.Column("facts", JSONB, nullable=False),
        sa.Column("history", JSONB, nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    # The scheduler scans due customers; list endpoints filter by stage and tier.
    op.create_index(
        "ix_lifecycle_customers_next_due_at",
        "lifecycle_customers",
        ["next_due_at"],
        postgresql_where=sa.text("next_due_at IS NOT NULL"),
    )
    op.create_index("ix_lifecycle_customers_stage", "lifecycle_customers", ["stage", "customer_id"])
    op.create_index("ix_lifecycle_customers_tier", "lifecycle_customers", ["tier", "customer_id"])
    op.create_index(
        "ix_lifecycle_customers_flags", "lifecycle_customers", ["flags"], postgresql_using="gin"
    )
    op.create_table(
        "lifecycle_transitions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("from_stage", sa.String(16), nullable=False),
        sa.Column("to_stage", sa.String(16), nullable=False),
        sa.Column("flag", sa.String(32)),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(48), nullable=False),
        sa.Column("cause_event_id", sa.String(128), nullable=False),
    )
    op.create_index(
        "ix_lifecycle_transitions_occurred_at", "lifecycle_transitions", ["occurred_at"]
    )
    op.create_table(
        "lifecycle_watermark",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("lifecycle_watermark")
    op.drop_table("lifecycle_transitions")
    op.drop_table("lifecycle_customers")
