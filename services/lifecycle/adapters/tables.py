"""The lifecycle service's tables (schema owned by Alembic, migrations 0003, 0011, 0012, 0013_h4,
0014_h10, 0015_h12)."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from shared.db import metadata

customers = sa.Table(
    "lifecycle_customers",
    metadata,
    sa.Column("customer_id", sa.String(128), primary_key=True),
    sa.Column("stage", sa.String(16), nullable=False),
    sa.Column("stage_since", sa.DateTime(timezone=True)),
    sa.Column("flags", ARRAY(sa.String(32)), nullable=False),
    sa.Column("tier", sa.String(1), nullable=False),
    sa.Column("lifecycle_pattern", sa.String(16)),
    sa.Column("reactivations", sa.Integer, nullable=False),
    sa.Column("first_seen_at", sa.DateTime(timezone=True)),
    sa.Column("first_purchase_at", sa.DateTime(timezone=True)),
    sa.Column("last_purchase_at", sa.DateTime(timezone=True)),
    sa.Column("purchase_occasions", sa.Integer, nullable=False),
    sa.Column("total_spend", sa.Numeric(24, 4), nullable=False),
    sa.Column("trailing_spend", sa.Numeric(24, 4), nullable=False),
    sa.Column("churn_risk", sa.Float),
    # JSON text (lz4), parsed by the service only: jsonb cost PostgreSQL a parse per write.
    sa.Column("facts", sa.Text, nullable=False),
    # Where the replay stood after the last fact (domain/checkpoint.py), as JSON text.
    sa.Column("checkpoint", sa.Text),
    # One compact JSON object per line, id first (domain/transitions.py, StoredHistory).
    sa.Column("history", sa.Text, nullable=False),
    sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
    sa.Column("next_due_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
)

transitions = sa.Table(
    "lifecycle_transitions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("customer_id", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("from_stage", sa.String(16)),  # NULL: the entry into acquisition (0013_h4)
    sa.Column("to_stage", sa.String(16), nullable=False),
    sa.Column("flag", sa.String(32)),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.String(48), nullable=False),
    sa.Column("cause_event_id", sa.String(128), nullable=False),
)

# Facts that came after the row's facts document, one event each (its JSON as text): an
# in-order event is appended here instead of rewriting the document (0015_h12).
fact_rows = sa.Table(
    "lifecycle_facts",
    metadata,
    sa.Column("customer_id", sa.String(128), primary_key=True),
    sa.Column("event_id", sa.String(128), primary_key=True),
    sa.Column("body", sa.Text, nullable=False),
)

watermark = sa.Table(
    "lifecycle_watermark",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True),
    sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
)

# How far each partition of the events topic has been read (domain/event_clock.py): the
# event-time clock moves to the low watermark of these rows (0016).
partition_clocks = sa.Table(
    "lifecycle_partition_clocks",
    metadata,
    sa.Column("topic", sa.String(249), primary_key=True),
    sa.Column("partition", sa.Integer, primary_key=True),
    sa.Column("latest", sa.DateTime(timezone=True)),
    sa.Column("caught_up", sa.Boolean, nullable=False),
)

# Normalised e-mail, phone and name of customers that have one (domain/contact_keys.py).
contact_keys = sa.Table(
    "lifecycle_contact_keys",
    metadata,
    sa.Column("customer_id", sa.String(128), primary_key=True),
    sa.Column("email", sa.Text),
    sa.Column("phone", sa.Text),
    sa.Column("name", sa.Text),
)
