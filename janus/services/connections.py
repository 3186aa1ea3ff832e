"""Connections: downstream APIs and the prefix their tools share."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import func, select

from janus.extensions import db
from janus.gateway.catalog import TokenRecord, parse_scopes
from janus.gateway.egress import EgressPolicy
from janus.models import ClientToken, Connection, Endpoint
from janus.schemas.connection import ConnectionCreate, ConnectionUpdate, check_prefix
from janus.services import admin_tool_names, connection_impact, listing, tool_metadata
from janus.services._common import (
    FieldErrors,
    checked,
    create_row,
    delete_row,
    iso,
    stage_create,
    update_row,
    valid_id,
    validated,
)
from janus.services.errors import Conflict, NotFound, ValidationError

# The writable fields: the schema's (janus.schemas.connection), so a new one needs no edit here.
FIELDS = tuple(ConnectionCreate.model_fields)


def view(conn: Connection, endpoint_count: int | None = None) -> dict[str, Any]:
    return {
        "id": conn.id,
        **{field: getattr(conn, field) for field in FIELDS},
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


_ENDPOINT_COUNT = (
    select(func.count(Endpoint.id))
    .where(Endpoint.connection_id == Connection.id)
    .correlate(Connection)
    .scalar_subquery()
)
ORDER = listing.Order(
    "connections",
    {
        "name": (listing.Key(Connection.name),),
        "prefix": (listing.Key(Connection.prefix),),
        "created_at": (listing.Key(Connection.created_at, "time"),),
        "updated_at": (listing.Key(Connection.updated_at, "time"),),
        "endpoint_count": (listing.Key(_ENDPOINT_COUNT, "number"),),
    },
    "name",
    Connection.id,
)


def page_connections(
    *,
    q: str | None = None,
    enabled: Any = None,
    sort: Any = None,
    page: Any = None,
    cursor: Any = None,
    limit: Any = None,
) -> dict[str, Any]:
    """One page of connections (by name unless `sort` says otherwise): `q` a substring of the name, prefix,
    description or base URL (any case). {"items", "total", "page", "limit", "next_cursor"}."""
    query = listing.search(
        select(Connection), q, Connection.name, Connection.prefix, Connection.description, Connection.base_url
    )
    scope: dict[str, Any] = {"q": q or ""}
    query = listing.flag_filter(query, "enabled", enabled, Connection.enabled.is_, scope)
    result = listing.paged(
        query, ORDER, lambda row: row[0], page=page, cursor=cursor, limit=limit, sort=sort, scope=scope
    )
    ids = [c.id for c in result["items"]]
    counts = dict(
        db.session.execute(
            select(Endpoint.connection_id, func.count())
            .where(Endpoint.connection_id.in_(ids))
            .group_by(Endpoint.connection_id)
        ).all()
    )
    result["items"] = [view(c, counts.get(c.id, 0)) for c in result["items"]]
    return result


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
    fields = _create_fields(data)
    return create_row(
        actor, "connection", Connection(**fields), view, f"a connection named {fields['name']!r} already exists"
    )


def stage_create_connection(actor: str, data: dict[str, Any]) -> Connection:
    """create_connection's checks and audit row inside the caller's transaction (the OpenAPI import's)."""
    row = Connection(**_create_fields(data))
    stage_create(actor, "connection", row, lambda c: view(c, 0))
    return row


def _create_fields(data: dict[str, Any]) -> dict[str, Any]:
    check = FieldErrors()
    fields = check.take(validated, ConnectionCreate, data) or {}
    if fields and not fields["prefix"]:
        fields["prefix"] = check.take(checked, "prefix", check_prefix, default_prefix(fields["name"]))
    if fields:
        check.take(_check_egress, fields["base_url"])
    check.raise_if_any()
    _check_secret_ref(fields["auth_type"], fields["auth_secret_ref"])
    _check_unique_name(fields["name"], None)
    _check_prefix_clash(fields["prefix"], None)
    return fields


def update_connection(actor: str, connection_id: str, data: dict[str, Any]) -> dict[str, Any]:
    conn = get(connection_id)
    changes = _checked_changes(conn, data)
    extra = _audited_impact(conn, changes) if _touches_clients(conn, changes) else {}
    tool_metadata.bump_renamed(conn, changes.get("prefix"))  # tool names change: so do their definitions
    return update_row(
        actor,
        "connection",
        conn,
        changes,
        view,
        f"a connection named {changes.get('name', conn.name)!r} already exists",
        **extra,
    )


def delete_connection(actor: str, connection_id: str) -> None:
    conn = get(connection_id)
    delete_row(actor, "connection", conn, view, **_audited_impact(conn, {}, deleted=True))


# -- impact preview ----------------------------------------------------------------

IMPACT_ACTIONS = ("update", "disable", "delete")


def impact(connection_id: str, change: dict[str, Any]) -> dict[str, Any]:
    """What a change would do to live clients (janus.services.connection_impact), without making it.

    `change`: {"action": "delete"}, {"action": "disable"}, or a proposed update: the fields of a PATCH
    (optionally with "action": "update"), checked exactly as update_connection checks them, so a prefix
    that clashes or is malformed is refused here too. Nothing is written."""
    conn = get(connection_id)
    fields = dict(change)
    action = fields.pop("action", "update")
    if not isinstance(action, str) or action not in IMPACT_ACTIONS:
        raise ValidationError(f"action must be one of {', '.join(IMPACT_ACTIONS)}", field="action")
    if action == "update":
        return _impact(conn, _checked_changes(conn, fields))
    if fields:
        raise ValidationError(
            f"a {action} preview takes no other fields; got {', '.join(sorted(map(str, fields)))}",
            field=next(iter(fields)),
        )
    return _impact(conn, {"enabled": False}) if action == "disable" else _impact(conn, {}, deleted=True)


def update_impact(connection_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """The impact of a PATCH body (the admin API's ?dry_run=true), checked as update_connection would."""
    conn = get(connection_id)
    return _impact(conn, _checked_changes(conn, data))


def delete_impact(connection_id: str) -> dict[str, Any]:
    return _impact(get(connection_id), {}, deleted=True)


def _audited_impact(conn: Connection, changes: dict[str, Any], *, deleted: bool = False) -> dict[str, Any]:
    """The audit row's `impact` (the counts) of a change to a connection with tools; nothing without any
    (no tool to rename or hide, so no token to affect either)."""
    counts = _impact(conn, changes, deleted=deleted)["counts"]
    return {"impact": counts} if counts["tools"] else {}


def _touches_clients(conn: Connection, changes: dict[str, Any]) -> bool:
    return any(key in changes and changes[key] != getattr(conn, key) for key in ("prefix", "enabled"))


def _impact(conn: Connection, changes: dict[str, Any], *, deleted: bool = False) -> dict[str, Any]:
    """Three reads (this connection's endpoints, the active tokens, other connections' served names only
    when a scope might die), then connection_impact's single pass."""
    tools = [
        connection_impact.Tool(name, enabled)
        for name, enabled in db.session.execute(
            select(Endpoint.tool_name, Endpoint.enabled).where(Endpoint.connection_id == conn.id)
        )
    ]
    now = datetime.now(UTC)
    records = (
        TokenRecord(row.id, row.name, row.role, parse_scopes(row.scopes), expires_at=row.expires_at)
        for row in db.session.execute(
            select(ClientToken.id, ClientToken.name, ClientToken.role, ClientToken.scopes, ClientToken.expires_at)
            .where(ClientToken.enabled.is_(True))
            .order_by(ClientToken.name, ClientToken.id)
        )
    )
    tokens = [record for record in records if record.is_active(now)]  # active, as the gateway judges it

    def other_live_names() -> list[str]:
        rows = db.session.execute(
            select(Connection.prefix, Endpoint.tool_name)
            .join(Connection, Endpoint.connection)
            .where(Connection.id != conn.id, Connection.enabled.is_(True), Endpoint.enabled.is_(True))
        )
        return [prefix + tool for prefix, tool in rows]

    before = connection_impact.State(conn.prefix, conn.enabled)
    after = connection_impact.State(
        changes.get("prefix", conn.prefix), changes.get("enabled", conn.enabled), exists=not deleted
    )
    result = connection_impact.compute(tools, before, after, tokens, other_live_names, admin_tool_names.NAMES)
    changed = {
        key: {"from": getattr(conn, key), "to": changes[key]}
        for key in ("prefix", "enabled")
        if not deleted and key in changes and changes[key] != getattr(conn, key)
    }
    return {
        "connection": {"id": conn.id, "name": conn.name, "prefix": conn.prefix, "enabled": conn.enabled},
        "action": "delete" if deleted else "update",
        "changes": changed,
        **result,
    }


def _checked_changes(conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    """`data` as validated changes to `conn`; every refusal before anything is touched (a refused change
    leaves nothing behind, and a preview writes nothing)."""
    check = FieldErrors()
    changes = check.take(validated, ConnectionUpdate, data) or {}
    if "prefix" in changes and changes["prefix"] is None:
        check.add("prefix", "prefix is required")
    if "base_url" in changes:
        check.take(_check_egress, changes["base_url"])
    check.raise_if_any()
    if "name" in changes:
        _check_unique_name(changes["name"], conn.id)
    if "prefix" in changes:
        _check_prefix_clash(changes["prefix"], conn.id)
    _check_secret_ref(changes.get("auth_type", conn.auth_type), changes.get("auth_secret_ref", conn.auth_secret_ref))
    return changes


# -- rules -----------------------------------------------------------------------


def _check_egress(url: str) -> None:
    """Metadata names and refused literal addresses fail at once; names are judged again, resolved,
    at every connect (janus.gateway.egress), so a DNS change after registration is caught too."""
    host = urlsplit(url).hostname or ""
    refused = EgressPolicy(current_app.config.get("EGRESS_ALLOWLIST") or ()).registration_problem(host)
    if refused:
        raise ValidationError(f"base_url host {host!r} is refused by the egress policy: {refused}", field="base_url")


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
        _check_prefix_clash(checked("prefix", check_prefix, prefix), own_id)
    except (ValidationError, Conflict) as exc:
        return exc.message
    return None
