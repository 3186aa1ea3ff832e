"""token rate limits: a client token may carry its own rate and burst (NULL: the configured defaults)

Revision ID: 0008_token_rate_limits
Revises: 0007_token_certificate
Create Date: 2026-12-06 22:20:00

Two nullable integer columns on client_tokens; existing tokens keep the defaults (MCP_RATE_PER_CLIENT,
MCP_BURST_PER_CLIENT). Issue 13 part 5. (0006/0007 are added in parallel; the chain is set at merge.)
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008_token_rate_limits"
down_revision = "0007_token_certificate"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("client_tokens") as batch_op:
        batch_op.add_column(sa.Column("rate_per_second", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rate_burst", sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table("client_tokens") as batch_op:
        batch_op.drop_column("rate_burst")
        batch_op.drop_column("rate_per_second")
