"""user source: users signed in through OIDC single sign-on are marked "sso" and keyed by their IdP subject

Revision ID: 0006_user_source
Revises: 0005_token_hash_key
Create Date: 2026-12-06 22:00:00

Every existing user is a local one (a password kept by Janus). `oidc_subject` is the IdP's `sub` of an
SSO user: unique, so one IdP identity is one Janus user, and NULL for local users.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic (the lead re-chains parallel migrations at merge).
revision = "0006_user_source"
down_revision = "0005_token_hash_key"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=10), nullable=False, server_default="local"))
        batch_op.add_column(sa.Column("oidc_subject", sa.String(length=255), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_users_oidc_subject"), ["oidc_subject"])


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_users_oidc_subject"), type_="unique")
        batch_op.drop_column("oidc_subject")
        batch_op.drop_column("source")
