"""Notify's outcome facts: purchases, stage changes and opt-outs, to measure playbook uplift.

Learned from the topics notify already consumes (customer events, lifecycle changes) and its
own preference and unsubscribe endpoints; read by GET /v1/playbooks/{name}/impact.

Revision ID: 0015_h11
Revises: 0014_h9
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_h11"
down_revision: str | None = "0014_h9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notify_outcomes",
        sa.Column("event_id", sa.String(300), primary_key=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),  # purchase | stage | opt_out
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount", sa.Numeric(24, 4)),
        sa.Column("currency", sa.String(3)),
        sa.Column("from_stage", sa.String(16)),
        sa.Column("to_stage", sa.String(16)),
        sa.Column("channel", sa.String(8)),
    )
    op.create_index(
        "ix_notify_outcomes_customer_at", "notify_outcomes", ["customer_id", "occurred_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_notify_outcomes_customer_at", table_name="notify_outcomes")
    op.drop_table("notify_outcomes")
