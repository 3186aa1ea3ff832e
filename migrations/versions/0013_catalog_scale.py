"""catalog changes: which connection, endpoint or token each catalogue change touched

Revision ID: 0013_catalog_scale
Revises: 0012_openapi_imports
Create Date: 2026-12-07 00:40:00

Each bump of the catalog change counter now also writes one row per touched connection, endpoint or
client token, under the counter's new value (seq). A process that has catalogue version V reads the rows
with seq > V and re-reads only those rows, instead of the whole catalogue (issue 15, item 5). Old rows are
pruned as new ones are written; a process further behind than the log reaches loads everything, as before.
(The lead re-chains down_revision at merge.)
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0013_catalog_scale"
down_revision = "0012_openapi_imports"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "catalog_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("row_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_changes")),
    )
    op.create_index(op.f("ix_catalog_changes_seq"), "catalog_changes", ["seq"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_catalog_changes_seq"), table_name="catalog_changes")
    op.drop_table("catalog_changes")
