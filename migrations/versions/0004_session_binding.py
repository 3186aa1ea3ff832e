"""session binding: admin-API tokens are server-side sign-ins, users carry a credential version

Revision ID: 0004
Revises: 0003_portal_sessions
Create Date: 2026-12-06 15:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic (the lead fixes the chain at merge).
revision = "0004_session_binding"
down_revision = "0003_portal_sessions"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credential_version", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("portal_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=10), nullable=False, server_default="portal"))


def downgrade():
    with op.batch_alter_table("portal_sessions", schema=None) as batch_op:
        batch_op.drop_column("kind")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("credential_version")
