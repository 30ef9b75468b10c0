"""API keys: every change notifies channel `clm_api_keys` with the key's hash, so each running
service drops its cached answer for that key at once (revocation within a second).

A trigger, not the application, sends it: a key created, revoked or deleted by any tool (the
admin API, `clm keys`, plain SQL) reaches every instance.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION clm_api_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                PERFORM pg_notify('clm_api_keys', OLD.key_hash);
                RETURN OLD;
            END IF;
            PERFORM pg_notify('clm_api_keys', NEW.key_hash);
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER api_keys_changed AFTER INSERT OR UPDATE OR DELETE ON api_keys "
        "FOR EACH ROW EXECUTE FUNCTION clm_api_keys_changed()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER api_keys_changed ON api_keys")
    op.execute("DROP FUNCTION clm_api_keys_changed()")
