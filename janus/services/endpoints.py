"""Endpoints: REST operations exposed as MCP tools (connection prefix + tool name)."""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from flask import current_app, g, has_app_context
from pydantic_core import PydanticCustomError
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import contains_eager

from janus.extensions import db
from janus.gateway.catalog import RESERVED_PREFIX, is_reserved_name
from janus.gateway.schemas import declared_names
from janus.gateway.specs import HTTP_METHODS
from janus.gateway.templating import fixed_query_names, placeholders, validate_body_template
from janus.gateway.tool_backend import GatewayBackend, encodable
from janus.models import Connection, Endpoint
from janus.models._types import new_uuid, utcnow
from janus.schemas import endpoint as endpoint_schema
from janus.schemas.endpoint import (
    MAX_TOOL_NAME,
    TOOL_NAME_RE,
    EndpointBulk,
    EndpointCreate,
    EndpointUpdate,
    check_input_schema,
)
from janus.services import admin_audit, listing, tool_metadata
from janus.services._common import (
    FieldErrors,
    change,
    create_row,
    delete_row,
    iso,
    stage_create,
    stage_delete,
    stage_update,
    update_row,
    valid_id,
    validated,
)
from janus.services.errors import Conflict, NotFound, ServiceError, ValidationError
from janus.vault import app_vault

BODY_METHODS = {"POST", "PUT", "PATCH"}
# The writable fields: the schema's (janus.schemas.endpoint), so a new one needs no edit here.
FIELDS = tuple(EndpointCreate.model_fields)


def view(ep: Endpoint) -> dict[str, Any]:
    return {
        "id": ep.id,
        **{field: getattr(ep, field) for field in FIELDS},
        "connection_name": ep.connection.name,
        "exposed_name": ep.exposed_name,
        "definition_version": ep.definition_version or 1,
        "created_at": iso(ep.created_at),
        "updated_at": iso(ep.updated_at),
    }


_BY_NAME = (listing.Key(Connection.prefix), listing.Key(Endpoint.tool_name))
ORDER = listing.Order(
    "endpoints",
    {
        "name": _BY_NAME,  # the exposed name: prefix + tool name
        "method": (listing.Key(Endpoint.method), *_BY_NAME),
        "path": (listing.Key(Endpoint.path_template), *_BY_NAME),
        "connection": (listing.Key(Connection.name), listing.Key(Endpoint.tool_name)),
        "created_at": (listing.Key(Endpoint.created_at, "time"),),
        "updated_at": (listing.Key(Endpoint.updated_at, "time"),),
    },
    "name",
    Endpoint.id,
)
# ?read_only= and the like: the annotation hint each filters on, as tools/list serves it.
ANNOTATION_FILTERS = {
    "read_only": "readOnlyHint",
    "destructive": "destructiveHint",
    "idempotent": "idempotentHint",
    "open_world": "openWorldHint",
}


def page_endpoints(
    *,
    q: str | None = None,
    connection_id: str | None = None,
    method: str | None = None,
    enabled: Any = None,
    read_only: Any = None,
    destructive: Any = None,
    idempotent: Any = None,
    open_world: Any = None,
    sort: Any = None,
    page: Any = None,
    cursor: Any = None,
    limit: Any = None,
) -> dict[str, Any]:
    """One page of endpoints (by exposed name unless `sort` says otherwise): `q` a substring of the exposed
    name, description or path (any case), the others exact filters; read_only, destructive, idempotent and
    open_world match the tool's effective annotation (the admin's hint, else the one its method implies).
    {"items", "total", "page", "limit", "next_cursor"}."""
    query = select(Endpoint).join(Connection).options(contains_eager(Endpoint.connection))
    query = listing.search(
        query, q, Connection.prefix + Endpoint.tool_name, Endpoint.description, Endpoint.path_template
    )
    scope: dict[str, Any] = {"q": q or ""}
    if connection_id:
        query = query.where(Endpoint.connection_id == (connection_id if valid_id(connection_id) else ""))
        scope["connection_id"] = connection_id
    if method:
        if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
            raise ValidationError(f"method must be one of {', '.join(HTTP_METHODS)}", field="method")
        query = query.where(Endpoint.method == method.upper())
        scope["method"] = method.upper()
    hints = {"enabled": enabled, "read_only": read_only, "destructive": destructive}
    hints |= {"idempotent": idempotent, "open_world": open_world}
    for field, raw in hints.items():
        matches = Endpoint.enabled.is_ if field == "enabled" else functools.partial(_hint_is, ANNOTATION_FILTERS[field])
        query = listing.flag_filter(query, field, raw, matches, scope)
    return listing.paged(
        query, ORDER, lambda row: view(row[0]), page=page, cursor=cursor, limit=limit, sort=sort, scope=scope
    )


def _hint_is(hint: str, wanted: bool) -> ColumnElement[bool]:
    """The endpoints whose effective `hint` is `wanted`, in SQL: the admin's explicit true or false when
    the stored annotations hold one, else what the method implies (janus.gateway.tool_metadata)."""
    explicit = Endpoint.annotations[hint].as_boolean()
    implied = [m for m in HTTP_METHODS if tool_metadata.derived_annotations(m)[hint]]
    by_method = Endpoint.method.in_(implied) if wanted else Endpoint.method.not_in(implied)
    return or_(explicit == wanted, and_(explicit.is_(None), by_method))


def get(endpoint_id: str) -> Endpoint:
    ep = db.session.get(Endpoint, endpoint_id) if valid_id(endpoint_id) else None
    if ep is None:
        raise NotFound(f"endpoint {endpoint_id!r} not found")
    return ep


def get_endpoint(endpoint_id: str) -> dict[str, Any]:
    return view(get(endpoint_id))


def create_endpoint(actor: str, data: dict[str, Any]) -> dict[str, Any]:
    check = FieldErrors()
    fields = check.take(validated, EndpointCreate, data) or {}
    connection_id = fields.pop("connection_id", None)
    conn = db.session.get(Connection, connection_id) if connection_id else None
    if connection_id and conn is None:
        check.add("connection_id", f"connection {connection_id!r} does not exist")
    check.raise_if_any()
    assert conn is not None  # a missing or unknown connection_id is among the errors raised above
    fields = _validated(fields, conn, None)
    return create_row(
        actor,
        "endpoint",
        Endpoint(connection_id=conn.id, **fields),
        view,
        f"tool {conn.prefix + fields['tool_name']!r} already exists",
    )


def update_endpoint(actor: str, endpoint_id: str, data: dict[str, Any]) -> dict[str, Any]:
    ep = get(endpoint_id)
    changes = validated(EndpointUpdate, data)
    # The rules across fields (a body only with POST, placeholders in the schema) judge the endpoint as it would be.
    merged = {field: changes.get(field, getattr(ep, field)) for field in EndpointUpdate.model_fields}
    fields = tool_metadata.with_version(ep, _validated(merged, ep.connection, ep.id))
    return update_row(
        actor, "endpoint", ep, fields, view, f"tool {ep.connection.prefix + fields['tool_name']!r} already exists"
    )


def delete_endpoint(actor: str, endpoint_id: str) -> None:
    delete_row(actor, "endpoint", get(endpoint_id), view)


# -- many changes in one transaction (the OpenAPI import): the same rules and audit rows, the caller commits --


def taken_tool_names() -> dict[str, str]:
    """Every exposed tool name and its endpoint's id: one query for a batch instead of one per endpoint."""
    return {
        prefix + tool: ep_id
        for ep_id, prefix, tool in db.session.execute(
            select(Endpoint.id, Connection.prefix, Endpoint.tool_name).join(Connection)
        )
    }


def stage_create_endpoint(actor: str, conn: Connection, data: dict[str, Any], taken: dict[str, str]) -> Endpoint:
    """create_endpoint's checks and audit row, inside the caller's transaction; `taken` is kept up to date."""
    fields = validated(EndpointCreate, {**data, "connection_id": conn.id})
    fields.pop("connection_id", None)
    fields = _validated(fields, conn, None, taken)
    now = utcnow()
    row = Endpoint(id=new_uuid(), connection_id=conn.id, created_at=now, updated_at=now, **fields)
    row.connection = conn
    stage_create(actor, "endpoint", row, view, flush=False)  # the batch is written at its commit
    taken[conn.prefix + row.tool_name] = row.id
    return row


def stage_update_endpoint(actor: str, ep: Endpoint, data: dict[str, Any], taken: dict[str, str]) -> None:
    changes = validated(EndpointUpdate, data)
    merged = {field: changes.get(field, getattr(ep, field)) for field in EndpointUpdate.model_fields}
    old_name = ep.exposed_name
    fields = tool_metadata.with_version(ep, _validated(merged, ep.connection, ep.id, taken))
    stage_update(actor, "endpoint", ep, fields, view)
    taken.pop(old_name, None)
    taken[ep.exposed_name] = ep.id


def stage_delete_endpoint(actor: str, ep: Endpoint, taken: dict[str, str]) -> None:
    taken.pop(ep.exposed_name, None)
    stage_delete(actor, "endpoint", ep, view)


# -- several at once (the portal's selected tools) -----------------------------------


BULK_ACTIONS = endpoint_schema.BULK_ACTIONS
MAX_BULK = endpoint_schema.MAX_BULK


def bulk_change(actor: str, action: str, endpoint_ids: list[str]) -> int:
    """Enable, disable or delete these endpoints in one transaction, each with its own audit row;
    returns how many changed. One catalogue change: every worker re-reads just these rows."""
    if action not in BULK_ACTIONS:
        raise ValidationError(f"action must be one of {', '.join(BULK_ACTIONS)}", field="action")
    ids = list(dict.fromkeys(i for i in endpoint_ids if valid_id(i)))
    if not ids:
        raise ValidationError("select at least one tool", field="ids")
    if len(ids) > MAX_BULK:
        raise ValidationError(f"select at most {MAX_BULK} tools at once", field="ids")
    return _bulk(actor, action, ids)[0]


def bulk_endpoints(actor: str, data: dict[str, Any]) -> dict[str, Any]:
    """The admin API's bulk change: `{"action", "ids"}` checked (janus.schemas.endpoint.EndpointBulk), then
    bulk_change's transaction. {"action", "changed", "not_found": [the ids no endpoint has, in order]}."""
    fields = validated(EndpointBulk, data)
    action, ids = fields["action"], list(dict.fromkeys(fields["ids"]))
    changed, not_found = _bulk(actor, action, ids)
    return {"action": action, "changed": changed, "not_found": not_found}


def _bulk(actor: str, action: str, ids: list[str]) -> tuple[int, list[str]]:
    position = {endpoint_id: i for i, endpoint_id in enumerate(ids)}
    # In the order asked, so the audit rows follow the request.
    rows = sorted(db.session.scalars(select(Endpoint).where(Endpoint.id.in_(ids))), key=lambda ep: position[ep.id])
    found = {ep.id for ep in rows}
    changed = 0
    with change():
        for ep in rows:
            before = view(ep)
            if action == "delete":
                db.session.delete(ep)
                admin_audit.record(actor, "endpoint.delete", "endpoint", ep.id, before=before)
            elif ep.enabled != (action == "enable"):
                ep.enabled = action == "enable"
                admin_audit.record(actor, "endpoint.update", "endpoint", ep.id, before=before, after=view(ep))
            else:
                continue
            changed += 1
    return changed, [i for i in ids if i not in found]


# -- rules -----------------------------------------------------------------------


def _validated(
    fields: dict[str, Any], conn: Connection, own_id: str | None, taken: dict[str, str] | None = None
) -> dict[str, Any]:
    name = fields["tool_name"]
    exposed = conn.prefix + name
    if not TOOL_NAME_RE.fullmatch(name) or len(exposed) > MAX_TOOL_NAME:
        raise ValidationError(
            f"tool name {name!r} is invalid: use letters, digits, '_', '.' and '-', and keep the full name "
            f"{exposed!r} within {MAX_TOOL_NAME} characters",
            field="tool_name",
        )
    if is_reserved_name(exposed):  # only a connection stored before the prefix rule can get here
        raise ValidationError(
            f"tool name {exposed!r} is reserved: names starting with {RESERVED_PREFIX!r} belong to "
            "Janus's built-in admin tools; give the connection another prefix",
            field="tool_name",
        )
    path = fields["path_template"]
    schema = fields["input_schema"]
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    for param in placeholders(path):
        if param not in properties or param not in required:
            raise ValidationError(
                f"path parameter {param!r} must be a required property of the input schema", field="input_schema"
            )
    in_path = set(placeholders(path))
    for param in sorted(declared_names(schema)):
        if param not in in_path and param.casefold() in fixed_query_names(path):
            # A caller could otherwise send a second value for a parameter the admin fixed (item 4).
            raise ValidationError(
                f"property {param!r} has the name of a query parameter fixed in the path "
                "template; rename the property or make the parameter a placeholder",
                field="input_schema",
            )
    template = fields["body_template"]
    if template is not None:
        if fields["method"] not in BODY_METHODS:
            raise ValidationError("a body template is used only with POST, PUT or PATCH", field="body_template")
        problems = validate_body_template(template)
        if problems:
            raise ValidationError("body template is invalid: " + "; ".join(problems), field="body_template")
        for param in placeholders(template, kind="body"):
            if param not in properties:
                raise ValidationError(
                    f"body template placeholder {param!r} is not a property of the input schema", field="body_template"
                )
    _check_header_params(fields.get("header_params"), conn, path, template, declared_names(schema))
    if taken is None:
        _check_unique_tool(exposed, own_id)
    elif taken.get(exposed, own_id) != own_id:
        raise Conflict(f"tool {exposed!r} already exists", field="tool_name")
    return fields


def _check_header_params(
    params: list[dict[str, str]] | None,
    conn: Connection,
    path: str,
    body_template: str | None,
    declared: frozenset[str],
) -> None:
    """Each argument sent as a header is a property of the schema and goes nowhere else (the path, the body
    template, a fixed query name); no header is one the connection's credentials set."""
    if not params:
        return
    in_path = set(placeholders(path))
    in_body = set(placeholders(body_template, kind="body")) if body_template else set()
    fixed = fixed_query_names(path)
    for entry in params:
        argument = entry.get("argument")
        if argument is None:
            continue
        where = (
            "a path placeholder"
            if argument in in_path
            else "a body template placeholder"
            if argument in in_body
            else "a query parameter fixed in the path template"
            if argument.casefold() in fixed
            else None
        )
        if where:
            raise ValidationError(
                f"argument {argument!r} is sent as the header {entry['header']!r}, so it cannot also be {where}",
                field="header_params",
            )
        if argument not in declared:
            raise ValidationError(
                f"argument {argument!r} of header {entry['header']!r} must be a property of the input schema",
                field="header_params",
            )
    owned = {name.casefold(): name for name in connection_auth_headers(conn)}
    for entry in params:
        clash = owned.get(entry["header"].casefold())
        if clash is not None:
            raise ValidationError(
                f"header {entry['header']!r} is set by the credentials of connection {conn.name!r} "
                f"({conn.auth_type}); a header parameter cannot replace it",
                field="header_params",
            )


def connection_auth_headers(conn: Connection) -> list[str]:
    """The names of the headers the connection's credentials set: Authorization for bearer, basic and OAuth;
    the names in a custom-headers secret (its names only, read from the vault; none when it cannot be read,
    and the executor still lets the credentials win at call time)."""
    if conn.auth_type in ("bearer", "basic", "oauth2_client_credentials"):
        return ["Authorization"]
    if conn.auth_type != "custom_headers" or not conn.auth_secret_ref:
        return []
    cache = g.setdefault("janus_auth_header_names", {}) if has_app_context() else {}
    key = (conn.id, conn.auth_type, conn.auth_secret_ref)
    if key not in cache:
        try:
            parsed = json.loads(app_vault(current_app).get(conn.auth_secret_ref))
        except Exception:  # noqa: BLE001 - unreadable or not JSON: the call path refuses it with its own message
            parsed = None
        cache[key] = [str(name) for name in parsed] if isinstance(parsed, dict) else []
    return list(cache[key])


def _check_unique_tool(exposed: str, own_id: str | None) -> None:
    # Only connections whose prefix starts the name can hold it, and then only under the rest of the name:
    # one indexed lookup each (uq_endpoints_connection_tool), not a scan of every tool.
    owners = [
        (cid, prefix)
        for cid, prefix in db.session.execute(select(Connection.id, Connection.prefix))
        if exposed.startswith(prefix)
    ]
    for cid, prefix in owners:
        ep_id = db.session.scalar(
            select(Endpoint.id).where(Endpoint.connection_id == cid, Endpoint.tool_name == exposed[len(prefix) :])
        )
        if ep_id is not None and ep_id != own_id:
            raise Conflict(f"tool {exposed!r} already exists", field="tool_name")


# -- the portal's editor and "try it" panel ---------------------------------------------


def schema_problem(raw: str) -> str | None:
    """Why this input schema text would be refused, or None: checked as the admin types."""
    try:
        check_input_schema(raw if raw.strip() else None)
    except PydanticCustomError as exc:
        return exc.message()
    return None


def sample_arguments(schema: dict[str, Any]) -> dict[str, Any]:
    """Arguments that fit the schema's required properties: a starting point to edit, not a guess at data."""
    samples = {"string": "example", "integer": 1, "number": 1.5, "boolean": True, "array": [], "object": {}}
    properties = schema.get("properties") or {}
    out: dict[str, Any] = {}
    for name in schema.get("required") or list(properties)[:5]:
        spec = properties.get(name)
        if not isinstance(spec, dict):
            spec = {}
        if "default" in spec:
            out[name] = spec["default"]
        elif isinstance(spec.get("enum"), list) and spec["enum"]:
            out[name] = spec["enum"][0]
        else:
            kind = spec.get("type")
            if isinstance(kind, list):
                kind = kind[0] if kind else None
            out[name] = samples.get(kind, "example") if isinstance(kind, str) else "example"
    return out


# "Try it" calls a tool whose method is not one of these only once the admin has seen the exact request and
# confirmed it (issue 10, item 19): a trial POST, PUT, PATCH or DELETE changes real data upstream.
SAFE_TRY_METHODS = frozenset({"GET", "HEAD"})


class ConfirmationRequired(ServiceError):
    """A write tool's trial call without a confirmation of exactly the request it would send."""

    status = 428
    error = "confirmation_required"

    def __init__(self, message: str, preview: dict[str, Any]) -> None:
        super().__init__(message, field="arguments")
        self.preview = preview  # the request as it stands now, to show and confirm


def needs_confirmation(method: str) -> bool:
    return method.upper() not in SAFE_TRY_METHODS


def preview_endpoint(backend: GatewayBackend, endpoint_id: str, arguments: Any) -> dict[str, Any]:
    """The upstream request a trial call would send (method, full URL, JSON body), without sending it.

    `digest` names exactly this request: try_endpoint calls a write tool only when given it back.
    `backend` is the process's tool backend (janus.runtime), which the caller hands in.
    """
    ep, arguments = _trial(endpoint_id, arguments)
    return _preview(backend, ep, arguments)


def try_endpoint(
    backend: GatewayBackend, actor: str, endpoint_id: str, arguments: Any, *, confirmed: str | None = None
) -> dict[str, Any]:
    """Call the endpoint's tool through `backend` like a client would (validation, upstream, audit as `portal:<actor>`).

    A write tool (see SAFE_TRY_METHODS) is called only when `confirmed` is the digest of its preview for these
    arguments, so what the admin confirmed is what is sent: ConfirmationRequired otherwise (arguments changed,
    the tool was edited meanwhile, or no preview at all). The answer carries the request (None when the
    arguments could not make one), the upstream's HTTP status and the call's duration.
    """
    from janus.gateway.tool_backend import try_tool

    ep, arguments = _trial(endpoint_id, arguments)
    if needs_confirmation(ep.method):
        preview = _preview(backend, ep, arguments)
        if confirmed != preview["digest"]:
            raise ConfirmationRequired(
                f"{ep.method} changes data upstream: check the request below, then confirm it"
                if not confirmed
                else "The request changed since it was shown (the arguments or the tool): "
                "check it again, then confirm it",
                preview,
            )
    else:
        try:
            preview = _preview(backend, ep, arguments)
        except ValidationError:
            preview = None  # the call below is refused too, and audited, with the tool's own message
    return {
        "tool": ep.exposed_name,
        "arguments": arguments,
        "request": preview,
        "http_status": None,
        "duration_ms": None,
        **try_tool(backend, f"portal:{actor}", ep.exposed_name, arguments),
    }


def _trial(endpoint_id: str, arguments: Any) -> tuple[Endpoint, dict[str, Any]]:
    ep = get(endpoint_id)
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments or "{}")
        except (ValueError, RecursionError) as exc:
            raise ValidationError(f"arguments are not valid JSON: {exc}", field="arguments") from None
    if not isinstance(arguments, dict):
        raise ValidationError("arguments must be a JSON object", field="arguments")
    if not encodable(arguments):
        # JSON can spell a lone surrogate ("\ud800"); no digest, audit row or upstream request can carry it.
        raise ValidationError(
            "arguments hold a lone UTF-16 surrogate, which is not valid Unicode text", field="arguments"
        )
    if not (ep.enabled and ep.connection.enabled):
        raise ValidationError(
            f"tool {ep.exposed_name!r} is disabled (or its connection is); enable it to try it", field="arguments"
        )
    return ep, arguments


def _preview(backend: GatewayBackend, ep: Endpoint, arguments: dict[str, Any]) -> dict[str, Any]:
    from janus.gateway.templating import ArgumentError
    from janus.gateway.tool_backend import preview_tool

    try:
        planned = preview_tool(backend, ep.exposed_name, arguments)
    except ArgumentError as exc:
        raise ValidationError(f"these arguments make no request: {exc}", field="arguments") from None
    # The connection's id too: the same text sent to another upstream is another request.
    headers = [list(pair) for pair in planned.headers]
    named: list[Any] = [ep.connection_id, planned.method, planned.url, planned.body]
    if headers:  # a request without header parameters keeps the digest it always had
        named.append(headers)
    text = json.dumps(named, ensure_ascii=False)
    return {
        "method": planned.method,
        "url": planned.url,
        "body": planned.body,
        "headers": headers,
        "digest": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "confirm": needs_confirmation(planned.method),
    }
