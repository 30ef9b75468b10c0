"""Scoring: NPS answers (0..10) given on contact and complaint events, for the health score.

Revision ID: 0013_h5_nps
Revises: 0013_h3
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_h5_nps"
down_revision: str | None = "0013_h3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("scoring_contacts", sa.Column("nps", sa.SmallInteger))
    op.add_column("scoring_complaints", sa.Column("nps", sa.SmallInteger))
    op.add_column("scoring_complaints", sa.Column("nps_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("scoring_complaints", "nps_at")
    op.drop_column("scoring_complaints", "nps")
    op.drop_column("scoring_contacts", "nps")
