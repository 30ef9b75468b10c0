"""Outbox inserts NOTIFY clm_outbox at commit, so relays publish without waiting for a poll.

A statement-level trigger, not a row trigger: one notification per inserting statement (and
PostgreSQL folds equal notifications of a transaction into one, sent only if it commits), and
no transition table, so a rescore's COPY of millions of rows costs nothing extra.

Revision ID: 0014_h9
Revises: 0014_h10
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014_h9"
down_revision: str | None = "0014_h10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('clm_outbox', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox "
        "FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
    op.execute("DROP FUNCTION IF EXISTS outbox_notify()")
