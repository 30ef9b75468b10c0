"""Consumer dedup rows keyed by the service that owns the state, not by the consumer group.

Two groups of one service write the same tables; keyed by group, each applied every event
once. Rows of the default groups move to their owner's key.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (old key, new key) for the groups the services used by default.
RENAMES = [
    ("clm-lifecycle", "lifecycle"),
    ("clm-scoring", "scoring"),
    ("clm-notify:lifecycle", "notify:lifecycle"),
    ("clm-notify:events", "notify:events"),
    ("clm-notify:scores", "notify:scores"),
]

_MOVE = sa.text(
    "INSERT INTO processed_events (consumer, event_id, processed_at) "
    "SELECT :new, event_id, processed_at FROM processed_events WHERE consumer = :old "
    "ON CONFLICT DO NOTHING"
)
_DROP = sa.text("DELETE FROM processed_events WHERE consumer = :old")


def _move(pairs: list[tuple[str, str]]) -> None:
    bind = op.get_bind()
    for old, new in pairs:
        bind.execute(_MOVE, {"old": old, "new": new})
        bind.execute(_DROP, {"old": old})


def upgrade() -> None:
    _move(RENAMES)


def downgrade() -> None:
    _move([(new, old) for old, new in RENAMES])
