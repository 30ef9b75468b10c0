"""Lifecycle: normalised contact keys (e-mail, phone, name) so customers can be looked up.

One row per customer with a usable e-mail, phone or name in its profile, keyed as
`services.lifecycle.domain.contact_keys` normalises them. Each key has a btree index with
text_pattern_ops (exact match and `LIKE 'prefix%'` whatever the collation), customer_id
second so that an exact match is read in page order. Existing customers are backfilled
from their stored facts.

Revision ID: 0014_h10
Revises: 0013_h4
"""

from collections.abc import Sequence

import orjson
import sqlalchemy as sa
from alembic import op

revision: str = "0014_h10"
down_revision: str | None = "0013_h4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = ("email", "phone", "name")
BACKFILL_CHUNK = 1000


def upgrade() -> None:
    op.create_table(
        "lifecycle_contact_keys",
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("email", sa.Text),
        sa.Column("phone", sa.Text),
        sa.Column("name", sa.Text),
    )
    for key in KEYS:
        op.execute(
            f"CREATE INDEX ix_lifecycle_contact_keys_{key} ON lifecycle_contact_keys "
            f"({key} text_pattern_ops, customer_id) WHERE {key} IS NOT NULL"
        )
    _backfill()


def _backfill() -> None:
    # The normalisation is the service's own, so stored keys and queries always agree.
    from services.lifecycle.domain.contact_keys import ContactKeys

    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT customer_id, facts FROM lifecycle_customers "
            "WHERE facts NOT LIKE '%\"profile\":{}%'"
        )
    )
    insert = sa.text(
        "INSERT INTO lifecycle_contact_keys (customer_id, email, phone, name) "
        "VALUES (:customer_id, :email, :phone, :name) ON CONFLICT (customer_id) DO NOTHING"
    )
    while chunk := rows.fetchmany(BACKFILL_CHUNK):
        values = []
        for customer_id, facts in chunk:
            profile = orjson.loads(facts).get("profile", {})
            keys = ContactKeys.of({k: v[2] for k, v in profile.items()})  # [at, event_id, value]
            if not keys.empty:
                values.append(
                    {"customer_id": customer_id, "email": keys.email, "phone": keys.phone,
                     "name": keys.name}
                )  # fmt: skip
        if values:
            conn.execute(insert, values)


def downgrade() -> None:
    op.drop_table("lifecycle_contact_keys")
