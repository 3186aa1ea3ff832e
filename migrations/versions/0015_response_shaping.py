"""response shaping and DLP: per-endpoint shaping, per-connection masking override, masked classes in the audit

Revision ID: 0015_response_shaping
Revises: 0014_tool_metadata
Create Date: 2026-12-07 01:00:00

Endpoints gain an optional JMESPath projection, an array-item cap, a text-size cap and a Markdown-table
switch (janus/gateway/shaping.py); connections a nullable `redaction` (NULL: follow REDACTION_ENABLED);
tool-call audit rows the classes and counts DLP masked ("email:2,card:1", never a value). All nullable
or defaulted, so existing rows keep their behaviour. Issue 15, item 3. (The chain is set at merge.)
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0015_response_shaping"
down_revision = "0014_tool_metadata"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("endpoints") as batch_op:
        batch_op.add_column(sa.Column("response_projection", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("max_items", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_text_chars", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("render_table", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("connections") as batch_op:
        batch_op.add_column(sa.Column("redaction", sa.Boolean(), nullable=True))
    with op.batch_alter_table("tool_call_logs") as batch_op:
        batch_op.add_column(sa.Column("redactions", sa.String(length=400), nullable=True))


def downgrade():
    with op.batch_alter_table("tool_call_logs") as batch_op:
        batch_op.drop_column("redactions")
    with op.batch_alter_table("connections") as batch_op:
        batch_op.drop_column("redaction")
    with op.batch_alter_table("endpoints") as batch_op:
        batch_op.drop_column("render_table")
        batch_op.drop_column("max_text_chars")
        batch_op.drop_column("max_items")
        batch_op.drop_column("response_projection")
