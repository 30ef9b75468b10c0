"""Money and orders: the operator's exchange rates; scoring keeps every version of an order
and every refund, and derives one purchase row per order from them.

Revision ID: 0013_h3
Revises: 0013
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_h3"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE exchange_rates_revision")
    op.execute(
        "CREATE TABLE exchange_rates ("
        " currency varchar(3) NOT NULL,"
        " reporting_currency varchar(3) NOT NULL,"
        " day date NOT NULL,"
        " rate numeric(24, 10) NOT NULL CHECK (rate > 0),"
        " revision bigint NOT NULL,"
        " CONSTRAINT pk_exchange_rates PRIMARY KEY (currency, reporting_currency, day))"
    )
    op.execute(
        "CREATE TABLE scoring_order_versions ("
        " customer_id varchar(128) NOT NULL,"
        " event_id varchar(128) NOT NULL,"
        " order_id varchar(256) NOT NULL,"
        " occurred_at timestamptz NOT NULL,"
        " amount float8 NOT NULL,"
        " CONSTRAINT pk_scoring_order_versions PRIMARY KEY (customer_id, event_id))"
    )
    op.execute(
        "CREATE TABLE scoring_refunds ("
        " customer_id varchar(128) NOT NULL,"
        " event_id varchar(128) NOT NULL,"
        " order_id varchar(256) NOT NULL,"
        " occurred_at timestamptz NOT NULL,"
        " amount float8,"
        " CONSTRAINT pk_scoring_refunds PRIMARY KEY (customer_id, event_id))"
    )
    # Purchases stored before orders were keyed: each event was its own order.
    op.execute(
        "INSERT INTO scoring_order_versions (customer_id, event_id, order_id, occurred_at, amount)"
        " SELECT customer_id, event_id, event_id, occurred_at, amount FROM scoring_purchases"
    )


def downgrade() -> None:
    op.execute("DROP TABLE scoring_refunds")
    op.execute("DROP TABLE scoring_order_versions")
    op.execute("DROP TABLE exchange_rates")
    op.execute("DROP SEQUENCE exchange_rates_revision")
