"""audit rollups: per-minute and per-hour sums of the tool-call audit rows, a watermark and its gaps

Revision ID: 0010_audit_rollups
Revises: 0009_audit_trace_id
Create Date: 2026-12-07 00:00:00

Four new tables, no change to tool_call_logs. Nothing is backfilled here: a database with millions
of audit rows migrates in milliseconds, and the first telemetry read (or `flask janus rollup-audit`)
rolls the existing rows up in bounded batches (janus.services.audit_rollups). Issue 14, item 5.
(0009 is added in parallel; the chain is set at merge.)
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010_audit_rollups"
down_revision = "0009_audit_trace_id"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "audit_rollups",
        sa.Column("span", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("tool_name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("duration_sum", sa.Float(), nullable=False),
        sa.Column("duration_max", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("span", "bucket", "tool_name", "status", name=op.f("pk_audit_rollups")),
    )
    op.create_table(
        "audit_rollup_latency",
        sa.Column("span", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("bin", sa.Integer(), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("span", "bucket", "bin", name=op.f("pk_audit_rollup_latency")),
    )
    op.create_table(
        "audit_rollup_state",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_audit_rollup_state")),
    )
    op.create_table(
        "audit_rollup_gaps",
        sa.Column("low", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("high", sa.BigInteger(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("low", name=op.f("pk_audit_rollup_gaps")),
    )


def downgrade():
    op.drop_table("audit_rollup_gaps")
    op.drop_table("audit_rollup_state")
    op.drop_table("audit_rollup_latency")
    op.drop_table("audit_rollups")
