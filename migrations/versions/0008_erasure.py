"""GDPR erasure: keyed hashes of erased customer ids.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # HMAC-SHA256(CLM_ERASURE_SECRET, customer_id) in hex; never the raw id.
    op.create_table(
        "erased_customers",
        sa.Column("customer_id_hash", sa.String(64), primary_key=True),
        sa.Column(
            "erased_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


def downgrade() -> None:
    op.drop_table("erased_customers")
