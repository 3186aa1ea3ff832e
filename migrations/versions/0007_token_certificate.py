"""token certificate: a client token may be bound to a client certificate (mutual TLS)

Revision ID: 0007_token_certificate
Revises: 0006_user_source
Create Date: 2026-12-06 22:00:00

Two nullable columns on client_tokens, each unique (a certificate presented without a bearer must name
one token): the certificate's SHA-256 fingerprint and its subject distinguished name (RFC 4514).
Existing tokens stay unbound. Numbered 0007 beside parallel 0006/0008 work: the lead re-chains at merge.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic (the lead fixes the chain at merge).
revision = "0007_token_certificate"
down_revision = "0006_user_source"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("client_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cert_fingerprint", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("cert_subject", sa.String(length=512), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_client_tokens_cert_fingerprint"), ["cert_fingerprint"])
        batch_op.create_unique_constraint(batch_op.f("uq_client_tokens_cert_subject"), ["cert_subject"])


def downgrade():
    with op.batch_alter_table("client_tokens", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_client_tokens_cert_subject"), type_="unique")
        batch_op.drop_constraint(batch_op.f("uq_client_tokens_cert_fingerprint"), type_="unique")
        batch_op.drop_column("cert_subject")
        batch_op.drop_column("cert_fingerprint")
