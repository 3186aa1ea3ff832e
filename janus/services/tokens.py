"""Client tokens: hashed at rest under a server key (janus.services.token_key), scoped by globs, shown once."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from janus.extensions import db
from janus.gateway.catalog import hash_token, parse_scopes, scopes_allow
from janus.models import ClientToken, Connection, Endpoint
from janus.services._common import boolean, create_row, delete_row, iso, only, text, update_row, valid_id
from janus.services.errors import Conflict, NotFound, ValidationError
from janus.services.token_key import server_key

ROLES = ("admin", "developer")
MIN_TOKEN_LENGTH = 24
SCOPES_HINT = "scopes must be comma-separated globs, e.g. 'weather_*,billing_get_*'"
MAX_SCOPES = 100
MAX_SCOPE_LENGTH = 128
_SET_RE = re.compile(r"\[!?[^\[\]]+\]")
SCOPE_RE = re.compile(r"^[A-Za-z0-9_.*?\[\]!-]+$")
TOKEN_RE = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII: it travels in an HTTP header
FIELDS = {"name", "token", "role", "scopes", "expires_at", "enabled"}


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
        "last_used_at": iso(token.last_used_at),
        "created_at": iso(token.created_at),
    }


def state(token_view: dict[str, Any], now: datetime | None = None) -> str:
    """ "active", "disabled" or "expired": whether the gateway would accept the token right now."""
    if not token_view["enabled"]:
        return "disabled"
    expires = token_view.get("expires_at")
    if expires and datetime.fromisoformat(expires.replace("Z", "+00:00")) <= (now or datetime.now(UTC)):
        return "expired"
    return "active"


def list_tokens() -> list[dict[str, Any]]:
    return [view(t) for t in db.session.scalars(select(ClientToken).order_by(ClientToken.name, ClientToken.created_at))]


def get(token_id: str) -> ClientToken:
    token = db.session.get(ClientToken, token_id) if valid_id(token_id) else None
    if token is None:
        raise NotFound(f"token {token_id!r} not found")
    return token


def create_token(actor: str, data: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Returns the stored view and the token value: the only time the value exists outside the caller."""
    only(data, FIELDS)
    name = text(data, "name", required=True, max_len=200)
    raw = text(data, "token", max_len=512)
    if raw:
        if len(raw) < MIN_TOKEN_LENGTH:
            raise ValidationError(
                f"a token value must be at least {MIN_TOKEN_LENGTH} characters "
                "(leave it out to have a secure one generated)",
                field="token",
            )
        if not TOKEN_RE.fullmatch(raw):
            raise ValidationError("a token value must be visible ASCII characters without spaces", field="token")
    else:
        raw = generate_token()
    token_hash = hash_token(raw, server_key())
    if db.session.scalar(select(ClientToken.id).where(ClientToken.token_hash == token_hash)) is not None:
        raise Conflict("this token value is already registered", field="token")
    token = ClientToken(
        name=name,
        token_hash=token_hash,
        token_hint=raw[:6],
        role=_role(text(data, "role") or "developer"),
        scopes=",".join(_scopes(data.get("scopes", ""))),
        expires_at=_expiry(data.get("expires_at")),
        enabled=boolean(data, "enabled", True),
    )
    return create_row(actor, "token", token, view, "this token value is already registered"), raw


def update_token(actor: str, token_id: str, data: dict[str, Any]) -> dict[str, Any]:
    only(data, FIELDS - {"token"})
    token = get(token_id)
    changes: dict[str, Any] = {}
    if "name" in data:
        changes["name"] = text(data, "name", required=True, max_len=200)
    if "role" in data:
        changes["role"] = _role(text(data, "role", required=True))
    if "scopes" in data:
        changes["scopes"] = ",".join(_scopes(data["scopes"]))
    if "expires_at" in data:
        changes["expires_at"] = _expiry(data["expires_at"])
    if "enabled" in data:
        changes["enabled"] = boolean(data, "enabled", required=True)
    return update_row(actor, "token", token, changes, view)


def delete_token(actor: str, token_id: str) -> None:
    delete_row(actor, "token", get(token_id), view)


def preview_scopes(raw_scopes: Any) -> list[str]:
    """The existing tools (exposed names) these globs would let a token see, matched as the gateway matches them.

    Every tool counts, enabled or not: a scope keeps applying when a tool is switched on later.
    """
    scopes = _scopes(raw_scopes)
    rows = db.session.execute(select(Connection.prefix, Endpoint.tool_name).join(Connection, Endpoint.connection))
    return sorted(name for name in {prefix + tool for prefix, tool in rows} if scopes_allow(scopes, name))


def _role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError(f"role {role!r} is unknown; expected one of {', '.join(ROLES)}", field="role")
    return role


def _scopes(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, list):
        if not all(isinstance(s, str) for s in raw):
            raise ValidationError(SCOPES_HINT, field="scopes")
        raw = ",".join(raw)
    if not isinstance(raw, str):
        raise ValidationError(SCOPES_HINT, field="scopes")
    scopes = tuple(dict.fromkeys(parse_scopes(raw)))  # duplicates say nothing more
    if len(scopes) > MAX_SCOPES:
        raise ValidationError(f"at most {MAX_SCOPES} scopes; use wider globs", field="scopes")
    for scope in scopes:
        if len(scope) > MAX_SCOPE_LENGTH:
            raise ValidationError(f"a scope is at most {MAX_SCOPE_LENGTH} characters", field="scopes")
        if not SCOPE_RE.fullmatch(scope):
            raise ValidationError(
                f"scope {scope!r} is not a valid glob: use tool-name characters with * ? [ ]", field="scopes"
            )
        if not _brackets_close(scope):
            raise ValidationError(
                f"scope {scope!r} has a '[' without a closing ']' or an empty set '[]'", field="scopes"
            )
    return scopes


def _brackets_close(scope: str) -> bool:
    """Every '[' opens a non-empty set that closes: fnmatch would read '[abc' as a literal, a typo here."""
    return not re.search(r"[\[\]]", _SET_RE.sub("", scope))


def _expiry(raw: Any) -> datetime | None:
    if raw in (None, ""):
        return None
    if not isinstance(raw, str):
        raise ValidationError("expires_at must be an ISO 8601 date-time, e.g. 2027-01-31T00:00:00Z", field="expires_at")
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"expires_at {raw!r} is not an ISO 8601 date-time, e.g. 2027-01-31T00:00:00Z", field="expires_at"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-05:00 is past year 9999 in UTC
        raise ValidationError(f"expires_at {raw!r} is out of range", field="expires_at") from None
    if value <= datetime.now(UTC):
        raise ValidationError("expires_at must be in the future", field="expires_at")
    return value
