"""openapi imports: which OpenAPI operation each imported endpoint came from, and its fingerprint

Revision ID: 0012_openapi_imports
Revises: 0011_audit_call_id
Create Date: 2026-12-07 00:00:00

One row per imported endpoint (deleted with it): the operation ("GET /pets/{petId}") and a sha256 of the
definition the import generated, so a re-import tells added, changed, removed and unchanged operations
apart and never changes a live tool without approval (issue 15, item 1). The chain is set at merge.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012_openapi_imports"
down_revision = "0011_audit_call_id"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "imported_operations",
        sa.Column("endpoint_id", sa.String(length=36), nullable=False),
        sa.Column("connection_id", sa.String(length=36), nullable=False),
        sa.Column("operation_key", sa.String(length=2100), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_imported_operations_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["endpoints.id"],
            name=op.f("fk_imported_operations_endpoint_id_endpoints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("endpoint_id", name=op.f("pk_imported_operations")),
    )
    with op.batch_alter_table("imported_operations") as batch_op:
        batch_op.create_index(batch_op.f("ix_imported_operations_connection_id"), ["connection_id"], unique=False)


def downgrade():
    op.drop_table("imported_operations")
