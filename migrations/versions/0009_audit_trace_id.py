"""audit trace id: each tool-call row may name the W3C trace the call belonged to

Revision ID: 0009_audit_trace_id
Revises: 0008_token_rate_limits
Create Date: 2026-12-06 23:59:00

One nullable column on tool_call_logs, 32 hex digits (janus/gateway/tracing.py), indexed so the portal and
the admin API find a trace's calls by exact match. Existing rows have none. Issue 14 item 4.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009_audit_trace_id"
down_revision = "0008_token_rate_limits"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("tool_call_logs") as batch_op:
        batch_op.add_column(sa.Column("trace_id", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_tool_call_logs_trace_id"), ["trace_id"], unique=False)


def downgrade():
    with op.batch_alter_table("tool_call_logs") as batch_op:
        batch_op.drop_index(batch_op.f("ix_tool_call_logs_trace_id"))
        batch_op.drop_column("trace_id")
