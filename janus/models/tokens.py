"""Client tokens (LLM callers) and portal users (admins)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from janus.extensions import Model
from janus.models._types import UTCDateTime, new_uuid, utcnow


class ClientToken(Model):
    __tablename__ = "client_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(200))
    # HMAC-SHA256 hex under the server's token hash key, over the token's SHA-256 (janus.gateway.catalog.hash_token);
    # the value itself is never stored, and without the key a row cannot be checked against a guess.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # A few leading characters so admins can tell tokens apart (e.g. "mcp_Ab…").
    token_hint: Mapped[str] = mapped_column(String(16), default="")
    role: Mapped[str] = mapped_column(String(20), default="developer")
    scopes: Mapped[str] = mapped_column(Text, default="")  # comma-separated globs
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Mutual TLS binding (janus.schemas.token): the client certificate's SHA-256 (64 lower-case hex digits)
    # and/or its subject (RFC 4514). Unique: a certificate that names a token without a bearer names one.
    cert_fingerprint: Mapped[str | None] = mapped_column(String(64), unique=True)
    cert_subject: Mapped[str | None] = mapped_column(String(512), unique=True)
    # This token's rate limit (requests a second and burst); NULL: MCP_RATE_PER_CLIENT / MCP_BURST_PER_CLIENT.
    rate_per_second: Mapped[int | None] = mapped_column(Integer)
    rate_burst: Mapped[int | None] = mapped_column(Integer)

    @property
    def scope_list(self) -> list[str]:
        return [s.strip() for s in self.scopes.split(",") if s.strip()]


class KeyCheck(Model):
    """Which server key the stored hashes were made with: a MAC of a constant under the key, never the key.

    A process holding another key (a replica without the shared TOKEN_HASH_KEY, a lost key file) would
    refuse every token; comparing this at start turns that into one clear error instead.
    """

    __tablename__ = "key_checks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Model):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default="admin")  # admin | viewer
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Raised by a new password or disabling: an admin-API token minted under an older value is refused
    # even if its sign-in row were somehow still live (janus.services.sign_ins).
    credential_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # "local": Janus keeps the password; "sso": the person signs in at the OIDC provider only, the role
    # follows its groups at each sign-in, and the row has no usable password (janus.services.sso).
    source: Mapped[str] = mapped_column(String(10), default="local", server_default="local")
    # The IdP's `sub` of an SSO user (one IdP identity is one user); NULL for local users.
    oidc_subject: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
