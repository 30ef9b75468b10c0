"""notify_messages: an index of the steps awaiting an address, by customer.

A profile's arrival wakes its customer's steps scheduled with reason awaiting_address (one
UPDATE per intake batch, for the batch's profiled customers). Without this index the planner
reads them through ix_notify_messages_due (every scheduled message due after now, the
customer filter applied to each) or through ix_notify_messages_customer (all of each
customer's messages); this one holds only the steps awaiting an address, so the statement
reads the batch's customers' entries and nothing else.

Revision ID: 0016_h25
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_h25"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_notify_messages_awaiting_address"


def upgrade() -> None:
    # The predicate is the statement's, literally: a partial index serves only queries that
    # repeat it (services/notify/adapters/store.py, _WAKE_AWAITING_ADDRESS).
    op.create_index(
        INDEX,
        "notify_messages",
        ["customer_id"],
        postgresql_where=sa.text("status = 'scheduled' AND reason = 'awaiting_address'"),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="notify_messages")
