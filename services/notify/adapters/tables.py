"""Notify's tables: what it knows of each customer, and every message with its decisions."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from shared.db import metadata

notify_customers = sa.Table(
    "notify_customers",
    metadata,
    sa.Column("customer_id", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(256)),
    sa.Column("email", sa.String(254)),
    sa.Column("phone", sa.String(32)),
    sa.Column("locale", sa.String(35)),
    sa.Column("timezone", sa.String(64)),
    sa.Column("birthday", sa.Date),
    sa.Column("consent", JSONB, nullable=False, server_default="{}"),
    sa.Column("preferences", JSONB, nullable=False, server_default="{}"),
    sa.Column("stage", sa.String(16)),
    sa.Column("tier", sa.String(1), nullable=False, server_default="C"),
    sa.Column("scores", JSONB, nullable=False, server_default="{}"),
    sa.Column("profile_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
)

notify_messages = sa.Table(
    "notify_messages",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("playbook", sa.String(48), nullable=False),
    sa.Column("step", sa.String(48), nullable=False),
    sa.Column("repeat", sa.Integer, nullable=False, server_default="0"),  # of a repeating step
    sa.Column("customer_id", sa.String(128), nullable=False),
    sa.Column("occurrence_id", sa.String(300), nullable=False),
    sa.Column("trigger_kind", sa.String(16), nullable=False),
    sa.Column("trigger_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("channel", sa.String(8), nullable=False),
    sa.Column("template", sa.String(64), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cancel_on", ARRAY(sa.String(32)), nullable=False, server_default="{}"),
    sa.Column("coupon", sa.String(32)),
    sa.Column("context", JSONB, nullable=False, server_default="{}"),
    sa.Column("locale", sa.String(35)),
    sa.Column("subject", sa.Text),
    sa.Column("provider_response", sa.Text),
    sa.Column("history", JSONB, nullable=False, server_default="[]"),
    sa.Column("lease_until", sa.DateTime(timezone=True)),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # At most once per (playbook, customer, trigger occurrence, step, repeat), whatever the
    # instance.
    sa.UniqueConstraint(
        "playbook",
        "customer_id",
        "occurrence_id",
        "step",
        "repeat",
        name="uq_notify_messages_occurrence",
    ),
)

# What happened to customers after their triggers (migration 0015_h11): the impact's outcomes.
notify_outcomes = sa.Table(
    "notify_outcomes",
    metadata,
    sa.Column("event_id", sa.String(300), primary_key=True),
    sa.Column("customer_id", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # purchase | stage | opt_out
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("amount", sa.Numeric(24, 4)),
    sa.Column("currency", sa.String(3)),
    sa.Column("from_stage", sa.String(16)),
    sa.Column("to_stage", sa.String(16)),
    sa.Column("channel", sa.String(8)),
    sa.Index("ix_notify_outcomes_customer_at", "customer_id", "occurred_at"),
)
