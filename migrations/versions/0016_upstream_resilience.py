"""upstream resilience: per-endpoint timeout, retries and circuit breaker per connection, attempts per call

Revision ID: 0016_upstream_resilience
Revises: 0015_response_shaping
Create Date: 2026-12-07 01:00:00

endpoints.timeout_seconds (NULL: the connection's), connections.retries (default 0), breaker_threshold
(default 5; 0 turns the breaker off) and breaker_cooldown_seconds (default 30), and tool_call_logs.attempts
(requests sent for the call; NULL for calls that never reached the upstream and for older rows). Issue 15,
item 4. The chain is set at merge.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0016_upstream_resilience"
down_revision = "0015_response_shaping"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("connections") as batch:
        batch.add_column(sa.Column("retries", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("breaker_threshold", sa.Integer(), nullable=False, server_default="5"))
        batch.add_column(sa.Column("breaker_cooldown_seconds", sa.Float(), nullable=False, server_default="30"))
    with op.batch_alter_table("endpoints") as batch:
        batch.add_column(sa.Column("timeout_seconds", sa.Float(), nullable=True))
    with op.batch_alter_table("tool_call_logs") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table("tool_call_logs") as batch:
        batch.drop_column("attempts")
    with op.batch_alter_table("endpoints") as batch:
        batch.drop_column("timeout_seconds")
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("breaker_cooldown_seconds")
        batch.drop_column("breaker_threshold")
        batch.drop_column("retries")
