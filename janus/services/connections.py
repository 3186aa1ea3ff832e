"""Connections: downstream APIs and the prefix their tools share."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import func, select

from janus.extensions import db
from janus.gateway.catalog import RESERVED_PREFIX, is_reserved_name
from janus.gateway.egress import EgressPolicy
from janus.gateway.specs import AUTH_TYPES
from janus.models import Connection, Endpoint
from janus.services._common import (
    FieldErrors,
    boolean,
    create_row,
    delete_row,
    iso,
    number,
    only,
    text,
    update_row,
    valid_id,
)
from janus.services.errors import Conflict, NotFound, ValidationError

PREFIX_RE = re.compile(r"^[a-z][a-z0-9_]*_$")
FIELDS = {"name", "base_url", "prefix", "description", "auth_type", "auth_secret_ref", "enabled", "timeout_seconds"}


def view(conn: Connection, endpoint_count: int | None = None) -> dict[str, Any]:
    return {
        "id": conn.id,
        "name": conn.name,
        "base_url": conn.base_url,
        "prefix": conn.prefix,
        "description": conn.description,
        "auth_type": conn.auth_type,
        "auth_secret_ref": conn.auth_secret_ref,
        "enabled": conn.enabled,
        "timeout_seconds": conn.timeout_seconds,
        "endpoint_count": len(conn.endpoints) if endpoint_count is None else endpoint_count,
        "created_at": iso(conn.created_at),
        "updated_at": iso(conn.updated_at),
    }


def list_connections() -> list[dict[str, Any]]:
    counts = dict(
        db.session.execute(select(Endpoint.connection_id, func.count()).group_by(Endpoint.connection_id)).all()
    )
    rows = db.session.scalars(select(Connection).order_by(Connection.name)).all()
    return [view(c, counts.get(c.id, 0)) for c in rows]


def get(connection_id: str) -> Connection:
    conn = db.session.get(Connection, connection_id) if valid_id(connection_id) else None
    if conn is None:
        raise NotFound(f"connection {connection_id!r} not found")
    return conn


def get_connection(connection_id: str) -> dict[str, Any]:
    return view(get(connection_id))


def default_prefix(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not slug or not slug[0].isalpha():
        slug = "api_" + slug
    return slug[:63] + "_"


def create_connection(actor: str, data: dict[str, Any]) -> dict[str, Any]:
    only(data, FIELDS)
    check = FieldErrors()
    name = check.take(text, data, "name", required=True, max_len=200)
    prefix = check.take(text, data, "prefix", max_len=64)
    fields = {
        "name": name,
        "base_url": check.take(lambda: _base_url(text(data, "base_url", required=True, max_len=2048))),
        "prefix": check.take(_prefix, prefix or default_prefix(name)) if (prefix or name) else None,
        "description": check.take(text, data, "description", max_len=4000) or "",
        "auth_type": check.take(lambda: _auth_type(text(data, "auth_type") or "none")),
        "auth_secret_ref": check.take(text, data, "auth_secret_ref", max_len=512) or None,
        "enabled": check.take(boolean, data, "enabled", True),
        "timeout_seconds": check.take(number, data, "timeout_seconds", low=0.1, high=600, default=30.0),
    }
    check.raise_if_any()
    _check_secret_ref(fields["auth_type"], fields["auth_secret_ref"])
    _check_unique_name(name, None)
    _check_prefix_clash(fields["prefix"], None)
    return create_row(actor, "connection", Connection(**fields), view, f"a connection named {name!r} already exists")


def update_connection(actor: str, connection_id: str, data: dict[str, Any]) -> dict[str, Any]:
    only(data, FIELDS)
    conn = get(connection_id)
    # Validate everything before touching the row: a refused change leaves nothing behind.
    check = FieldErrors()
    parse = {
        "name": lambda: text(data, "name", required=True, max_len=200),
        "base_url": lambda: _base_url(text(data, "base_url", required=True, max_len=2048)),
        "prefix": lambda: _prefix(text(data, "prefix", required=True, max_len=64)),
        "description": lambda: text(data, "description", max_len=4000) or "",
        "auth_type": lambda: _auth_type(text(data, "auth_type", required=True)),
        "auth_secret_ref": lambda: text(data, "auth_secret_ref", max_len=512) or None,
        "enabled": lambda: boolean(data, "enabled", required=True),
        "timeout_seconds": lambda: number(data, "timeout_seconds", low=0.1, high=600, required=True),
    }
    changes: dict[str, Any] = {field: check.take(parse[field]) for field in parse if field in data}
    check.raise_if_any()
    if "name" in changes:
        _check_unique_name(changes["name"], conn.id)
    if "prefix" in changes:
        _check_prefix_clash(changes["prefix"], conn.id)
    _check_secret_ref(changes.get("auth_type", conn.auth_type), changes.get("auth_secret_ref", conn.auth_secret_ref))
    return update_row(
        actor,
        "connection",
        conn,
        changes,
        view,
        f"a connection named {changes.get('name', conn.name)!r} already exists",
    )


def delete_connection(actor: str, connection_id: str) -> None:
    delete_row(actor, "connection", get(connection_id), view)


# -- rules -----------------------------------------------------------------------


def _base_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsed here so a bad port fails now, not at the first tool call
    except ValueError:  # e.g. "http://[::1" or "http://host:99999"
        raise ValidationError(f"base_url {url!r} is not a valid URL", field="base_url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(
            f"base_url must be an absolute http:// or https:// URL with a host, got {url!r}", field="base_url"
        )
    if parts.username or parts.password:
        raise ValidationError(
            "base_url must not contain credentials; use auth_type and a vault secret reference", field="base_url"
        )
    if parts.query or parts.fragment:
        raise ValidationError("base_url must not contain a query string or fragment", field="base_url")
    refused = _egress_problem(parts.hostname)
    if refused:
        raise ValidationError(
            f"base_url host {parts.hostname!r} is refused by the egress policy: {refused}", field="base_url"
        )
    return url.rstrip("/")


def _egress_problem(host: str) -> str | None:
    """Metadata names and refused literal addresses fail at once; names are judged again, resolved,
    at every connect (janus.gateway.egress), so a DNS change after registration is caught too."""
    return EgressPolicy(current_app.config.get("EGRESS_ALLOWLIST") or ()).registration_problem(host)


def _prefix(prefix: str) -> str:
    if not PREFIX_RE.fullmatch(prefix):
        raise ValidationError(
            f"prefix {prefix!r} is invalid: use lower-case letters, digits and '_', start with a letter "
            "and end with '_' (e.g. 'billing_')",
            field="prefix",
        )
    if is_reserved_name(prefix):  # 'admin_x_' too: its tools would still be named admin_…
        raise ValidationError(
            f"prefix {prefix!r} is reserved for Janus's built-in admin tools "
            f"(no prefix may start with {RESERVED_PREFIX!r})",
            field="prefix",
        )
    return prefix


def _auth_type(auth_type: str) -> str:
    if auth_type not in AUTH_TYPES:
        raise ValidationError(
            f"auth_type {auth_type!r} is unknown; expected one of {', '.join(AUTH_TYPES)}", field="auth_type"
        )
    return auth_type


def _check_secret_ref(auth_type: str, ref: str | None) -> None:
    if auth_type != "none" and not ref:
        raise ValidationError(
            f"auth_type {auth_type!r} needs a vault secret reference (auth_secret_ref)", field="auth_secret_ref"
        )


def _check_unique_name(name: str, own_id: str | None) -> None:
    other = db.session.scalar(select(Connection.id).where(Connection.name == name))
    if other is not None and other != own_id:
        raise Conflict(f"a connection named {name!r} already exists", field="name")


def _check_prefix_clash(prefix: str, own_id: str | None) -> None:
    """Prefixes must not nest: 'acc_' and 'acc_ext_' could both yield 'acc_ext_x'."""
    for other_id, other_name, other_prefix in db.session.execute(
        select(Connection.id, Connection.name, Connection.prefix)
    ):
        if other_id == own_id:
            continue
        if prefix.startswith(other_prefix) or other_prefix.startswith(prefix):
            raise Conflict(
                f"prefix {prefix!r} clashes with connection {other_name!r} (prefix {other_prefix!r}): "
                "tool names could collide",
                field="prefix",
            )


def prefix_problem(prefix: str, own_id: str | None = None) -> str | None:
    """Why `prefix` cannot be used (malformed, reserved, clashing), or None; the portal checks as you type."""
    try:
        _check_prefix_clash(_prefix(prefix), own_id)
    except (ValidationError, Conflict) as exc:
        return exc.message
    return None
