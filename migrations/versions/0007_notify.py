"""Notify: customers (contact, consent, preferences) and the durable message schedule.

Revision ID: 0007
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision: str = "0007"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notify_customers",
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
    # The birthday scan looks customers up by month and day.
    op.execute(
        "CREATE INDEX ix_notify_customers_birthday ON notify_customers "
        "((EXTRACT(MONTH FROM birthday) * 100 + EXTRACT(DAY FROM birthday))) "
        "WHERE birthday IS NOT NULL"
    )
    op.create_table(
        "notify_messages",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("playbook", sa.String(48), nullable=False),
        sa.Column("step", sa.String(48), nullable=False),
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
        sa.UniqueConstraint(
            "playbook", "customer_id", "occurrence_id", "step", name="uq_notify_messages_occurrence"
        ),
    )
    # The sender scans due items; caps count recent sends; the API lists by customer and status.
    op.create_index(
        "ix_notify_messages_due",
        "notify_messages",
        ["due_at"],
        postgresql_where=sa.text("status = 'scheduled'"),
    )
    op.create_index(
        "ix_notify_messages_in_flight",
        "notify_messages",
        ["lease_until"],
        postgresql_where=sa.text("status = 'sending'"),
    )
    op.create_index(
        "ix_notify_messages_sent",
        "notify_messages",
        ["customer_id", "channel", "sent_at"],
        postgresql_where=sa.text("status = 'sent'"),
    )
    op.create_index("ix_notify_messages_customer", "notify_messages", ["customer_id", "created_at"])
    op.create_index("ix_notify_messages_status", "notify_messages", ["status", "updated_at"])


def downgrade() -> None:
    op.drop_table("notify_messages")
    op.drop_table("notify_customers")
