"""Client tokens: hashed at rest under a server key (janus.services.token_key), scoped by globs, shown once."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from janus.extensions import db
from janus.gateway.catalog import hash_token, scopes_allow
from janus.models import ClientToken, Connection, Endpoint
from janus.schemas.token import TokenCreate, TokenUpdate, check_scopes
from janus.services import listing
from janus.services._common import checked, create_row, delete_row, iso, update_row, valid_id, validated
from janus.services.errors import Conflict, NotFound
from janus.services.token_key import server_key


def generate_token() -> str:
    return "mcp_" + secrets.token_urlsafe(24)  # 32 URL-safe characters after the prefix


def view(token: ClientToken) -> dict[str, Any]:
    # Never the hash, never the value: only a hint to tell tokens apart.
    return {
        "id": token.id,
        "name": token.name,
        "role": token.role,
        "scopes": token.scope_list,
        "token_hint": (token.token_hint + "…") if token.token_hint else "",
        "enabled": token.enabled,
        "expires_at": iso(token.expires_at),
        "rate_per_second": token.rate_per_second,
        "rate_burst": token.rate_burst,
        "last_used_at": iso(token.last_used_at),
        "created_at": iso(token.created_at),
        "cert_fingerprint": token.cert_fingerprint,
        "cert_subject": token.cert_subject,
    }


def state(token_view: dict[str, Any], now: datetime | None = None) -> str:
    """ "active", "disabled" or "expired": whether the gateway would accept the token right now."""
    if not token_view["enabled"]:
        return "disabled"
    expires = token_view.get("expires_at")
    if expires and datetime.fromisoformat(expires.replace("Z", "+00:00")) <= (now or datetime.now(UTC)):
        return "expired"
    return "active"


ORDER = listing.Order(
    "tokens",
    {
        "name": (listing.Key(ClientToken.name), listing.Key(ClientToken.created_at, "time")),
        "created_at": (listing.Key(ClientToken.created_at, "time"),),
        "expires_at": (listing.Key(ClientToken.expires_at, "time", nullable=True),),
        "last_used_at": (listing.Key(ClientToken.last_used_at, "time", nullable=True),),
    },
    "name",
    ClientToken.id,
)


def page_tokens(
    *,
    q: str | None = None,
    enabled: Any = None,
    sort: Any = None,
    page: Any = None,
    cursor: Any = None,
    limit: Any = None,
) -> dict[str, Any]:
    """One page of client tokens (by name unless `sort` says otherwise): `q` a substring of the name or
    scopes (any case). Tokens that never expire or were never used sort after the rest, either way."""
    scope: dict[str, Any] = {"q": q or ""}
    query = listing.search(select(ClientToken), q, ClientToken.name, ClientToken.scopes)
    query = listing.flag_filter(query, "enabled", enabled, ClientToken.enabled.is_, scope)
    return listing.paged(
        query, ORDER, lambda row: view(row[0]), page=page, cursor=cursor, limit=limit, sort=sort, scope=scope
    )


def get(token_id: str) -> ClientToken:
    token = db.session.get(ClientToken, token_id) if valid_id(token_id) else None
    if token is None:
        raise NotFound(f"token {token_id!r} not found")
    return token


def create_token(actor: str, data: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Returns the stored view and the token value: the only time the value exists outside the caller."""
    fields = validated(TokenCreate, data)
    raw = fields.pop("token") or generate_token()
    token_hash = hash_token(raw, server_key())
    if db.session.scalar(select(ClientToken.id).where(ClientToken.token_hash == token_hash)) is not None:
        raise Conflict("this token value is already registered", field="token")
    _check_certificate_free(fields, None)
    token = ClientToken(token_hash=token_hash, token_hint=raw[:6], **_columns(fields))
    return create_row(actor, "token", token, view, "this token value is already registered"), raw


def update_token(actor: str, token_id: str, data: dict[str, Any]) -> dict[str, Any]:
    token = get(token_id)
    fields = validated(TokenUpdate, data)
    _check_certificate_free(fields, token.id)
    return update_row(actor, "token", token, _columns(fields), view, CERTIFICATE_TAKEN)


CERTIFICATE_TAKEN = "another token is already bound to this certificate"


def _check_certificate_free(fields: dict[str, Any], token_id: str | None) -> None:
    """A certificate presented without a bearer must name one token: a binding is never shared."""
    for column in (ClientToken.cert_fingerprint, ClientToken.cert_subject):
        value = fields.get(column.key)
        if value is None:
            continue
        other = db.session.scalar(select(ClientToken.id).where(column == value))
        if other is not None and other != token_id:
            raise Conflict(f"another token is already bound to this certificate {column.key[5:]}", field=column.key)


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    # Scopes are stored as one comma-separated text.
    if "scopes" in fields:
        fields["scopes"] = ",".join(fields["scopes"])
    return fields


def delete_token(actor: str, token_id: str) -> None:
    delete_row(actor, "token", get(token_id), view)


def preview_scopes(raw_scopes: Any) -> list[str]:
    """The existing tools (exposed names) these globs would let a token see, matched as the gateway matches them.

    Every tool counts, enabled or not: a scope keeps applying when a tool is switched on later.
    """
    scopes = checked("scopes", check_scopes, raw_scopes)
    rows = db.session.execute(select(Connection.prefix, Endpoint.tool_name).join(Connection, Endpoint.connection))
    return sorted(name for name in {prefix + tool for prefix, tool in rows} if scopes_allow(scopes, name))
