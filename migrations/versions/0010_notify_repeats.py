"""Notify: repeating steps. Each repeat is its own message, so the occurrence key gains `repeat`.

Existing rows are repeat 0: their key and ids are unchanged.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "uq_notify_messages_occurrence"
OCCURRENCE = ["playbook", "customer_id", "occurrence_id", "step"]


def upgrade() -> None:
    op.add_column(
        "notify_messages",
        sa.Column("repeat", sa.Integer, nullable=False, server_default="0"),
    )
    op.drop_constraint(KEY, "notify_messages", type_="unique")
    op.create_unique_constraint(KEY, "notify_messages", [*OCCURRENCE, "repeat"])


def downgrade() -> None:
    op.execute("DELETE FROM notify_messages WHERE repeat > 0")
    op.drop_constraint(KEY, "notify_messages", type_="unique")
    op.create_unique_constraint(KEY, "notify_messages", OCCURRENCE)
    op.drop_column("notify_messages", "repeat")
