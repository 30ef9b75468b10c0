"""lifecycle_partition_clocks: how far each partition of the events topic has been read.

In event-time mode the clock moved to the latest event of every batch; a batch holding a long
stretch of one partition moved it past events the other partitions had not delivered yet, so
their customers churned and were corrected when those events came. The clock now moves to the
low watermark of these rows (services/lifecycle/domain/event_clock.py). No data migration: a
partition gets its row with the next batch read from it.

Revision ID: 0016
Revises: 0015_h12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015_h12"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lifecycle_partition_clocks",
        sa.Column("topic", sa.String(249), nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("latest", sa.DateTime(timezone=True)),
        sa.Column("caught_up", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("topic", "partition"),
    )


def downgrade() -> None:
    op.drop_table("lifecycle_partition_clocks")
