"""audit call id: each tool-call audit row carries the unique id its process gave the call

Revision ID: 0011_audit_call_id
Revises: 0010_audit_rollups
Create Date: 2026-12-07 00:05:00

Audit records are spooled to disk before the call is answered and replayed into the database by
the writer (or, after a crash, by the process that adopts the spool). A replay after a crash
between a commit and the spool's progress mark must not duplicate rows: the insert skips a row
whose call_id is already there. Nullable, so rows written before this revision stay as they are
(NULLs never collide in a unique index). Issue 14, item 3. (The chain is set at merge.)
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0011_audit_call_id"
down_revision = "0010_audit_rollups"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("tool_call_logs") as batch_op:
        batch_op.add_column(sa.Column("call_id", sa.String(length=40), nullable=True))
        batch_op.create_index("ix_tool_call_logs_call_id", ["call_id"], unique=True)


def downgrade():
    with op.batch_alter_table("tool_call_logs") as batch_op:
        batch_op.drop_index("ix_tool_call_logs_call_id")
        batch_op.drop_column("call_id")
