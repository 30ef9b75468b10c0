"""Lifecycle: keep the facts and history documents as JSON text, compressed with lz4.

Every event rewrites both documents of its customer, and only the service reads them (it
parses them itself). As jsonb, PostgreSQL parsed each on write, printed it on read and
compressed it with pglz: measured on 20,000 bench customers (facts ~2 KB, history ~1.4 KB),
writing them took 93 us per row as jsonb/pglz, 54 us as jsonb/lz4 and 4.5 us as text/lz4.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE lifecycle_customers "
        "ALTER COLUMN facts TYPE text USING facts::text, "
        "ALTER COLUMN history TYPE text USING history::text, "
        "ALTER COLUMN facts SET COMPRESSION lz4, "
        "ALTER COLUMN history SET COMPRESSION lz4"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE lifecycle_customers "
        "ALTER COLUMN facts TYPE jsonb USING facts::jsonb, "
        "ALTER COLUMN history TYPE jsonb USING history::jsonb, "
        "ALTER COLUMN facts SET COMPRESSION pglz, "
        "ALTER COLUMN history SET COMPRESSION pglz"
    )
