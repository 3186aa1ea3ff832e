"""token hash key: client token hashes become keyed (HMAC-SHA256 under a server key kept out of the database)

Revision ID: 0005_token_hash_key
Revises: 0004_session_binding
Create Date: 2026-12-06 15:00:00

The schema part is the key_checks table. The data part (re-keying the stored hashes) needs the key,
which lives outside the database (TOKEN_HASH_KEY, a key file beside the vault key, or the cloud vault):
janus.services.token_key re-keys every existing row, HMAC(key, stored SHA-256), in one transaction
with the key_checks marker, the first time a process needs the key after this upgrade (bootstrap,
under the start-up lock). Rows are never read with the wrong scheme: until the marker exists no
keyed lookup can match them.

Downgrade drops the marker table only; hashes stay keyed (the raw tokens are unknown), so tokens
must be re-issued after a downgrade.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005_token_hash_key"
down_revision = "0004_session_binding"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "key_checks",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_key_checks")),
    )


def downgrade():
    op.drop_table("key_checks")
