"""Lifecycle: a customer's history opens with its entry into acquisition, from no stage.

`lifecycle_transitions.from_stage` is NULL for that entry (reason `first_contact` or
`first_purchase`). Existing customers gain theirs at their next derive: the checkpoint
format changed, so each is replayed from its facts once.

Revision ID: 0013_h4
Revises: 0013_h5_nps
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_h4"
down_revision: str | None = "0013_h5_nps"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("lifecycle_transitions", "from_stage", nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM lifecycle_transitions WHERE from_stage IS NULL")
    op.alter_column("lifecycle_transitions", "from_stage", nullable=False)
