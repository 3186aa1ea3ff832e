"""endpoint header parameters: tool arguments sent as request headers, and fixed headers

Revision ID: 0017_endpoint_header_params
Revises: 0016_upstream_resilience
Create Date: 2026-12-08 01:00:00

endpoints.header_params: a JSON list of {"argument", "header"} (the argument is sent as that header) and
{"header", "value"} (a fixed header); NULL, as for every existing row, sends none (janus/gateway/header_params.py).
Issue 15, item 1 (OpenAPI header parameters). The chain is set at merge.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0017_endpoint_header_params"
down_revision = "0016_upstream_resilience"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("endpoints") as batch:
        batch.add_column(sa.Column("header_params", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("endpoints") as batch:
        batch.drop_column("header_params")
