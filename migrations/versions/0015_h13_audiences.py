"""Audiences: a per-customer view over lifecycle state and scores, segments and their members.

Revision ID: 0015_h13
Revises: 0015_h11
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision: str = "0015_h13"
down_revision: str | None = "0015_h11"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audience_customers",
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("stage", sa.String(16)),
        sa.Column("flags", ARRAY(sa.String(32)), nullable=False, server_default="{}"),
        sa.Column("tier", sa.String(4)),
        sa.Column("clv", sa.Float),
        sa.Column("clv_percentile", sa.Float),
        sa.Column("churn_risk", sa.Float),
        sa.Column("p_alive", sa.Float),
        sa.Column("health_score", sa.Float),
        sa.Column("rfm_segment", sa.String(32)),
        sa.Column("scored_at", sa.DateTime(timezone=True)),
        sa.Column("last_purchase_at", sa.DateTime(timezone=True)),
        sa.Column("purchase_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locale", sa.String(35)),
        sa.Column("attributes", JSONB, nullable=False, server_default="{}"),
        sa.Column("profile_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    op.create_table(
        "audience_segments",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("filter", JSONB, nullable=False),
        sa.Column("time_relative", sa.Boolean, nullable=False),
        sa.Column("uses_percentile", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True)),
        sa.Column("swept_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "audience_members",
        sa.Column("segment", sa.String(64), primary_key=True),
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_audience_members_customer_id", "audience_members", ["customer_id"])


def downgrade() -> None:
    op.drop_table("audience_members")
    op.drop_table("audience_segments")
    op.drop_table("audience_customers")
