"""Lifecycle: the replay checkpoint in a column of its own, the history as JSON lines.

The scheduler re-derives a due customer from its checkpoint and history alone; with the
checkpoint inside the facts it had to read and parse the whole facts document (the purchase
records too) for it. A history stored one item per line, id first, is read without parsing
the items that a re-derivation only compares and writes back.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE lifecycle_customers ADD COLUMN checkpoint text COMPRESSION lz4")
    # `json` (not jsonb) keeps each history item's text as written: compact, id first.
    op.execute(
        "UPDATE lifecycle_customers SET "
        "checkpoint = (facts::json -> 'checkpoint')::text, "
        "facts = (facts::jsonb - 'checkpoint')::text, "
        "history = COALESCE((SELECT string_agg(item::text, E'\\n' ORDER BY n) "
        "FROM json_array_elements(history::json) WITH ORDINALITY AS h(item, n)), '')"
    )
    op.execute("UPDATE lifecycle_customers SET checkpoint = NULL WHERE checkpoint = 'null'")


def downgrade() -> None:
    op.execute(
        "UPDATE lifecycle_customers SET "
        "facts = CASE WHEN checkpoint IS NULL THEN facts "
        "ELSE (facts::jsonb || jsonb_build_object('checkpoint', checkpoint::jsonb))::text END, "
        "history = '[' || replace(history, E'\\n', ',') || ']'"
    )
    op.execute("ALTER TABLE lifecycle_customers DROP COLUMN checkpoint")
