"""tool metadata: a title, annotation hints, an output schema and its validation policy, a definition version

Revision ID: 0014_tool_metadata
Revises: 0013_catalog_scale
Create Date: 2026-12-07 01:00:00

NULL title and NULL (or absent) annotation hints mean "derived": tools stored before this revision get
hints from their HTTP method without a data migration. output_validation defaults to lenient (log and
pass): strict-only output validation breaks real APIs. definition_version starts at 1 and is bumped by
janus.services.endpoints on every change to what tools/list serves. Issue 15, item 2. (The chain is set
at merge.)
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0014_tool_metadata"
down_revision = "0013_catalog_scale"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("endpoints") as batch_op:
        batch_op.add_column(sa.Column("title", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("annotations", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("output_schema", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("output_validation", sa.String(length=10), nullable=False, server_default="lenient")
        )
        batch_op.add_column(sa.Column("definition_version", sa.Integer(), nullable=False, server_default="1"))


def downgrade():
    with op.batch_alter_table("endpoints") as batch_op:
        batch_op.drop_column("definition_version")
        batch_op.drop_column("output_validation")
        batch_op.drop_column("output_schema")
        batch_op.drop_column("annotations")
        batch_op.drop_column("title")
