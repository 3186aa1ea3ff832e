"""mcp sessions: HTTP transport sessions any worker or replica can serve

Revision ID: 0002_mcp_sessions
Revises: 0001_initial
Create Date: 2026-11-25 15:47:29.188901

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0002_mcp_sessions"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "mcp_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("transport", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("protocol_version", sa.String(length=20), nullable=True),
        sa.Column("client_info", sa.JSON(), nullable=True),
        sa.Column("client_capabilities", sa.JSON(), nullable=True),
        sa.Column("initialized", sa.Boolean(), nullable=False),
        sa.Column("owner_node", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mcp_sessions")),
    )
    with op.batch_alter_table("mcp_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mcp_sessions_last_seen_at"), ["last_seen_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_mcp_sessions_token_hash"), ["token_hash"], unique=False)


def downgrade():
    with op.batch_alter_table("mcp_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mcp_sessions_token_hash"))
        batch_op.drop_index(batch_op.f("ix_mcp_sessions_last_seen_at"))

    op.drop_table("mcp_sessions")
