"""Audiences' tables: its own view of each customer, the segments, and their members."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from shared.db import metadata

audience_customers = sa.Table(
    "audience_customers",
    metadata,
    sa.Column("customer_id", sa.String(128), primary_key=True),
    sa.Column("stage", sa.String(16)),
    sa.Column("flags", ARRAY(sa.String(32)), nullable=False, server_default="{}"),
    sa.Column("tier", sa.String(4)),
    sa.Column("clv", sa.Float),
    # 0..100, refreshed for everyone every CLM_AUDIENCES_PERCENTILE_INTERVAL_SECONDS.
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

audience_segments = sa.Table(
    "audience_segments",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("filter", JSONB, nullable=False),
    sa.Column("time_relative", sa.Boolean, nullable=False),
    sa.Column("uses_percentile", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # NULL until the first evaluation over every customer has been published.
    sa.Column("built_at", sa.DateTime(timezone=True)),
    sa.Column("swept_at", sa.DateTime(timezone=True)),
)

audience_members = sa.Table(
    "audience_members",
    metadata,
    sa.Column("segment", sa.String(64), primary_key=True),
    sa.Column("customer_id", sa.String(128), primary_key=True),
    sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_audience_members_customer_id", "customer_id"),
)
