"""lifecycle_facts: a customer's facts that came after its stored facts document, one row each.

An event later than everything folded into a customer's checkpoint is appended here (the
facts document is neither read nor rewritten); a late event reads the document and these
rows, replays, writes the document with them folded in and deletes them. Existing rows need
no data migration: checkpoints of the earlier format are ignored, so each customer is
re-derived from its stored facts document on its next event or due time.

Revision ID: 0015_h12
Revises: 0015_h13
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_h12"
down_revision: str | None = "0015_h13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lifecycle_facts",
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "event_id"),
    )


def downgrade() -> None:
    op.drop_table("lifecycle_facts")
