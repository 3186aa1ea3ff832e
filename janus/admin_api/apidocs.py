"""The OpenAPI 3 document of /api/v1 (JSON at SPEC_ROUTE) and the page that shows it in Swagger UI (/apidocs/).

Paths are written out here rather than collected from docstrings so that they state exactly what the
services accept and return; the bodies of the resources are their models' JSON Schemas (janus.schemas,
the one definition the services validate with), so the two cannot drift apart. Tests check it covers
every route of the blueprint, and schemathesis checks the API's answers against it.

Janus serves both itself (issue 10, item 17): the page loads only the Swagger UI the portal vendors
under static/vendor/ (VENDORED.md), never a copy bundled by a library, and its start-up script
(static/js/apidocs-init.js) names the spec itself and ignores the page's query string, so a link
such as /apidocs/?configUrl=https://elsewhere cannot make it load another document.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from flask import Blueprint, Response, render_template

from janus.schemas import auth as auth_schema
from janus.schemas import connection as connection_schema
from janus.schemas import endpoint as endpoint_schema
from janus.schemas import openapi_import as import_schema
from janus.schemas import token as token_schema
from janus.schemas import user as user_schema
from janus.schemas import vault as vault_schema
from janus.schemas.base import json_schema
from janus.services import audit_queries, listing
from janus.services import connections as connections_service
from janus.services import endpoints as endpoints_service
from janus.services import tokens as tokens_service
from janus.version import __version__

SPEC_ROUTE = "/apispec_1.json"  # the URL flasgger used: kept, as tools and bookmarks may name it
PAGE_ROUTE = "/apidocs/"
OPENAPI_VERSION = "3.1.0"
REF_TEMPLATE = "#/components/schemas/{model}"

_STRING = {"type": "string"}
_BOOL = {"type": "boolean"}
_WHEN = {"type": "string", "format": "date-time"}

# Outside /api/v1 (the document describes that prefix only); GET only, so CSRF has nothing to guard.
bp = Blueprint("apidocs", __name__, template_folder="templates")


@bp.get(PAGE_ROUTE)
def page():
    """Swagger UI on the admin API's document: public, like the document itself (it holds no data)."""
    return render_template("apidocs/index.html", spec_url=SPEC_ROUTE, title=f"Janus admin API {__version__}")


@bp.get(SPEC_ROUTE)
def spec():
    return Response(_spec_json(), mimetype="application/json")


@functools.cache
def _spec_json() -> bytes:
    """The document never changes while the process runs: built and encoded once."""
    return json.dumps(openapi_document(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def openapi_document() -> dict[str, Any]:
    """The whole OpenAPI 3.0 document of /api/v1, a fresh dict on each call."""
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Janus admin API",
            "version": __version__,
            "description": (
                "Manage connections, endpoints (MCP tools), client tokens, vault secrets and users. "
                "POST /api/v1/login for a session token, then send `Authorization: Bearer <token>`. "
                "Role `viewer` may read; changes need role `admin`. Every error is "
                '`{"error": "<code>", "message": "<sentence>"}`.'
            ),
        },
        "tags": [
            {"name": name}
            for name in ("auth", "connections", "endpoints", "tokens", "vault", "users", "audit", "status")
        ],
        "security": [{"bearerAuth": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": _schemas(),
            "responses": _error_responses(),
        },
    }


# -- paths ---------------------------------------------------------------------------


def _paths() -> dict[str, Any]:
    conn_id = _path_param("connection_id", "A connection's id.")
    ep_id = _path_param("endpoint_id", "An endpoint's id.")
    token_id = _path_param("token_id", "A client token's id.")
    user_id = _path_param("user_id", "A user's id.")
    key = _path_param(
        "key",
        "A vault secret's name; may contain '/', e.g. prod/billing-service/api-key.",
        max_len=vault_schema.MAX_KEY,
    )
    page_params = [
        _query("since", "Only entries at or after this time (ISO 8601).", _WHEN),
        _query("until", "Only entries at or before this time (ISO 8601).", _WHEN),
        _query("page", "Page number, from 1.", {"type": "integer", "minimum": 1, "default": 1}),
        _query(
            "per_page",
            "Entries per page.",
            {"type": "integer", "minimum": 1, "maximum": audit_queries.MAX_PER_PAGE, "default": 50},
        ),
    ]
    list_params = [
        _query("page", "Page number, from 1 (not with `cursor`).", {"type": "integer", "minimum": 1, "default": 1}),
        _query(
            "cursor",
            "Continue after the last entry of an earlier answer: its `next_cursor`, with the same `sort` and "
            "filters (not with `page`). Opaque and signed; a garbled or altered one, or one made for another "
            "sort or filter, is a 400 `invalid cursor`.",
            {"type": "string", "maxLength": listing.MAX_CURSOR},
        ),
        _query(
            "limit",
            "Entries per page.",
            {"type": "integer", "minimum": 1, "maximum": listing.MAX_LIMIT, "default": listing.DEFAULT_LIMIT},
        ),
    ]
    return {
        "/api/v1/login": {
            "post": _op(
                "login",
                "auth",
                "Log in: a session token (JWT) for the admin API and mcp-cli",
                body="LoginRequest",
                ok=("200", "LoginResponse", "Logged in."),
                errors=("400", "401", "429"),
                public=True,
                description="Every attempt is written to the admin audit log (login.success / login.failure; an "
                "unknown username as `(unknown user)`). More than LOGIN_RATE_PER_IP attempts a minute from "
                "one client address, or LOGIN_MAX_FAILURES failures for one username from one address "
                "within LOGIN_LOCKOUT_MINUTES, are refused with 429 and `Retry-After` without checking the "
                "password (login.throttled, once per period); the portal's sign-in shares the counts. The "
                "token is bound to the user's id and to a server-side sign-in: it ends on logout, a new "
                "password, or when the user is disabled or deleted.",
            )
        },
        "/api/v1/login/sso": {
            "get": _op(
                "sso_settings",
                "auth",
                "Single sign-on settings for mcp-cli: the issuer and the public client id of the device grant",
                ok=("200", "SsoSettings", "SSO is configured."),
                errors=("404",),
                public=True,
                description="404 `sso_not_configured` when OIDC_ISSUER is unset. Public values only (never the "
                "client secret).",
            ),
            "post": _op(
                "sso_login",
                "auth",
                "Log in with the identity provider: an OIDC ID token in, a session token (JWT) out",
                body="SsoLoginRequest",
                ok=("200", "LoginResponse", "Logged in; the role follows the IdP's groups."),
                errors=("400", "401", "403", "404", "429", "502"),
                public=True,
                description="What `mcp-cli login --sso` sends after the device authorization grant. The ID token "
                "must be signed by a key of the IdP's JWKS (asymmetric algorithms only), issued by OIDC_ISSUER "
                "for OIDC_CLI_CLIENT_ID or OIDC_CLIENT_ID, and not expired (401 `sso_refused` naming the "
                "problem). The groups claim (OIDC_GROUPS_CLAIM, from userinfo when the ID token lacks it and "
                "an access token is sent) maps to `admin` (OIDC_ADMIN_GROUPS) or `viewer` "
                "(OIDC_VIEWER_GROUPS); in neither, or a disabled user: 403 `sso_refused`. The user is created "
                "or updated (source `sso`) at each sign-in; sign-ins, refusals and role changes are in the "
                "admin audit log. 502 `sso_unavailable`: the IdP cannot be reached.",
            ),
        },
        "/api/v1/logout": {
            "post": _op(
                "logout",
                "auth",
                "Log out: end the session of the token sent",
                ok=("204", None, "The session is over (also when it already was)."),
                description="The token is refused from then on, by every worker and replica. A forged or expired "
                "token gets 401.",
            )
        },
        "/api/v1/connections": {
            "get": _op(
                "list_connections",
                "connections",
                "List connections",
                ok=("200", _listed("Connection"), "One page of connections, by name."),
                params=[
                    _search("name, prefix, description or base URL"),
                    _enabled(),
                    _sort(connections_service.ORDER),
                    *list_params,
                ],
                errors=("400",),
            ),
            "post": _op(
                "create_connection",
                "connections",
                "Create a connection",
                body="ConnectionCreate",
                ok=("201", "Connection", "Created."),
                errors=("400", "403", "409"),
                location=True,
            ),
        },
        "/api/v1/connections/{connection_id}": {
            "parameters": [conn_id],
            "get": _op(
                "get_connection",
                "connections",
                "Get a connection",
                ok=("200", "Connection", "The connection."),
                errors=("404",),
            ),
            "patch": _op(
                "update_connection",
                "connections",
                "Change a connection",
                body="ConnectionUpdate",
                ok=(
                    "200",
                    {"oneOf": [_ref("Connection"), _ref("ConnectionImpact")]},
                    "Changed: the connection; with dry_run=true, the change's impact and nothing changed.",
                ),
                params=[_dry_run()],
                errors=("400", "403", "404", "409"),
                description="A new prefix renames every tool of the connection and enabled=false hides them: "
                "with `?dry_run=true` the body is checked as for the change and the answer is its impact "
                "(as POST …/impact), nothing written. For a connection with tools, the change's "
                "`connection.update` audit row records the impact's counts (`details.impact`).",
            ),
            "delete": _with_impact(
                _op(
                    "delete_connection",
                    "connections",
                    "Delete a connection and its endpoints",
                    ok=("204", None, "Deleted."),
                    params=[_dry_run()],
                    errors=("400", "403", "404"),
                    description="With `?dry_run=true`: 200 and the deletion's impact, nothing deleted. For a "
                    "connection with tools, the `connection.delete` audit row records the impact's counts "
                    "(`details.impact`).",
                )
            ),
        },
        "/api/v1/connections/{connection_id}/impact": {
            "parameters": [conn_id],
            "post": _op(
                "connection_impact",
                "connections",
                "Preview what a change to a connection does to live clients",
                body="ConnectionImpactRequest",
                ok=("200", "ConnectionImpact", "The impact; nothing is changed."),
                errors=("403", "404", "409"),
                description='`{"action": "delete"}`, `{"action": "disable"}`, or a proposed change '
                '(the fields of a PATCH, e.g. `{"prefix": "pay_"}` or `{"enabled": false}`), checked '
                "as the PATCH checks it (400, or 409 for a prefix that clashes). The answer lists the tools "
                "renamed (each marked `live` when tools/list serves it now), hidden and shown again, and each "
                "active client token that would lose or gain tools or keep a scope that matches some served "
                "tool today and none afterwards (`dead_scopes`); scopes are matched as the gateway matches "
                "them. Admins only: it names tokens and their scopes.",
            ),
        },
        "/api/v1/endpoints": {
            "get": _op(
                "list_endpoints",
                "endpoints",
                "List endpoints (MCP tools)",
                ok=("200", _listed("Endpoint"), "One page of endpoints, by exposed name."),
                params=[
                    _search("exposed name, description or path template"),
                    _query("connection_id", "Only this connection's endpoints.", _STRING),
                    _query(
                        "method",
                        "Only endpoints of this HTTP method.",
                        {"type": "string", "enum": list(endpoint_schema.HTTP_METHODS)},
                    ),
                    _enabled(),
                    *(
                        _query(
                            field,
                            f"Only endpoints whose {hint} as tools/list serves it (the admin's, else the one the "
                            "HTTP method implies) is this.",
                            _BOOL,
                        )
                        for field, hint in endpoints_service.ANNOTATION_FILTERS.items()
                    ),
                    _sort(endpoints_service.ORDER),
                    *list_params,
                ],
                errors=("400",),
            ),
            "post": _op(
                "create_endpoint",
                "endpoints",
                "Create an endpoint",
                body="EndpointCreate",
                ok=("201", "Endpoint", "Created."),
                errors=("400", "403", "409"),
                location=True,
            ),
        },
        "/api/v1/endpoints/bulk": {
            "post": _op(
                "bulk_endpoints",
                "endpoints",
                "Enable, disable or delete several endpoints at once",
                body="EndpointBulk",
                ok=("200", "EndpointBulkResult", "Done; ids no endpoint has are listed in `not_found`."),
                errors=("403",),
                description=(
                    f"One transaction for up to {endpoint_schema.MAX_BULK} ids, each change with its own admin "
                    "audit row (`endpoint.update` or `endpoint.delete`); `changed` counts the endpoints that "
                    "changed (enabling an enabled one changes nothing). An unknown id is reported, not refused."
                ),
            ),
        },
        "/api/v1/import/openapi": {
            "post": _op(
                "import_openapi",
                "endpoints",
                "Import an OpenAPI description",
                body="OpenApiImport",
                ok=(
                    "200",
                    "OpenApiImportResult",
                    "The plan: added, changed, removed, unchanged and skipped operations, "
                    "and what was applied (nothing with dry_run).",
                ),
                errors=("403", "404", "409"),
                description=(
                    "One endpoint per operation of an OpenAPI 3.0/3.1 or Swagger 2.0 description (JSON or YAML): "
                    "`spec` (its text or object), `files` (a bundle; `$ref` between them) or `url` (fetched once "
                    "through the egress policy). A re-import shows a field-by-field diff and applies only what "
                    "`approve` lists (default: every change matching include/exclude); up to 32 MiB."
                ),
            ),
        },
        "/api/v1/endpoints/{endpoint_id}": {
            "parameters": [ep_id],
            "get": _op(
                "get_endpoint", "endpoints", "Get an endpoint", ok=("200", "Endpoint", "The endpoint."), errors=("404",)
            ),
            "patch": _op(
                "update_endpoint",
                "endpoints",
                "Change an endpoint",
                body="EndpointUpdate",
                ok=("200", "Endpoint", "Changed."),
                errors=("400", "403", "404", "409"),
            ),
            "delete": _op(
                "delete_endpoint",
                "endpoints",
                "Delete an endpoint",
                ok=("204", None, "Deleted."),
                errors=("403", "404"),
            ),
        },
        "/api/v1/tokens": {
            "get": _op(
                "list_tokens",
                "tokens",
                "List client tokens (never a value or hash)",
                ok=("200", _listed("Token"), "One page of client tokens, by name."),
                params=[_search("name or scopes"), _enabled(), _sort(tokens_service.ORDER), *list_params],
                errors=("400",),
            ),
            "post": _op(
                "create_token",
                "tokens",
                "Create a client token",
                body="TokenCreate",
                ok=("201", "NewToken", "Created; `token` is the value, shown this once."),
                errors=("400", "403", "409"),
            ),
        },
        "/api/v1/tokens/{token_id}": {
            "parameters": [token_id],
            "patch": _op(
                "update_token",
                "tokens",
                "Change a client token",
                body="TokenUpdate",
                ok=("200", "Token", "Changed."),
                errors=("400", "403", "404"),
            ),
            "delete": _op(
                "delete_token",
                "tokens",
                "Delete (revoke) a client token",
                ok=("204", None, "Deleted."),
                errors=("403", "404"),
            ),
        },
        "/api/v1/vault/keys": {
            "get": _op(
                "list_vault_keys",
                "vault",
                "List vault secret names (never values)",
                ok=("200", "VaultKeys", "The names."),
                errors=("502",),
            ),
        },
        "/api/v1/vault/keys/{key}": {
            "parameters": [key],
            "put": _op(
                "set_vault_key",
                "vault",
                "Store a vault secret",
                body="VaultValue",
                ok=("200", "VaultKey", "Stored."),
                errors=("400", "403", "404", "502"),
                description="404: the key is not a usable path (e.g. it starts with '/').",
            ),
            "delete": _op(
                "delete_vault_key",
                "vault",
                "Delete a vault secret",
                ok=("204", None, "Deleted."),
                errors=("400", "403", "404", "502"),
            ),
        },
        "/api/v1/users": {
            "get": _op("list_users", "users", "List users", ok=("200", _items("User"), "All users, by name.")),
            "post": _op(
                "create_user",
                "users",
                "Create a user",
                body="UserCreate",
                ok=("201", "User", "Created."),
                errors=("400", "403", "409"),
            ),
        },
        "/api/v1/users/{user_id}": {
            "parameters": [user_id],
            "patch": _op(
                "update_user",
                "users",
                "Change a user's password, role or enabled flag",
                body="UserUpdate",
                ok=("200", "User", "Changed."),
                errors=("400", "403", "404", "409"),
                description="409: the last enabled admin cannot be demoted or disabled.",
            ),
            "delete": _op(
                "delete_user",
                "users",
                "Delete a user",
                ok=("204", None, "Deleted."),
                errors=("403", "404", "409"),
                description="409: the last enabled admin cannot be deleted.",
            ),
        },
        "/api/v1/audit/tool-calls": {
            "get": _op(
                "list_tool_calls",
                "audit",
                "Tool calls by MCP clients, newest first",
                ok=("200", _page("ToolCall"), "One page."),
                errors=("400",),
                params=[
                    _query("tool", "Exposed tool name.", _STRING),
                    _query("status", "Outcome.", {"type": "string", "enum": list(audit_queries.STATUSES)}),
                    _query("token", "Client token name.", _STRING),
                    _query("trace", "W3C trace id (32 hex digits): the calls of one trace.", _STRING),
                    _query(
                        "retried",
                        "true: only calls sent upstream more than once (retries); false: only the others.",
                        _BOOL,
                    ),
                    _query(
                        "redacted",
                        "true: only calls whose answer DLP masked something in; false: only the others.",
                        _BOOL,
                    ),
                    *page_params,
                ],
            ),
        },
        "/api/v1/audit/tool-calls/export": {
            "get": _streamed(
                _op(
                    "export_tool_calls",
                    "audit",
                    "Every column of the tool calls in a time range, oldest first, streamed",
                    ok=("200", None, "JSON Lines (one object a row) or CSV with a header row."),
                    errors=("400",),
                    params=[
                        page_params[0],
                        page_params[1],
                        _query("format", "jsonl (default) or csv.", {"type": "string", "enum": ["jsonl", "csv"]}),
                    ],
                    description="Memory stays flat however long the range: rows are read in keyset batches "
                    "while the body streams. The same rows `flask janus audit prune` exports before it deletes.",
                )
            ),
        },
        "/api/v1/audit/admin": {
            "get": _op(
                "list_admin_events",
                "audit",
                "Admin changes and logins, newest first",
                ok=("200", _page("AdminEvent"), "One page."),
                errors=("400",),
                params=[
                    _query("actor", "Username that acted.", _STRING),
                    _query("action", "e.g. connection.create, login.failure.", _STRING),
                    *page_params,
                ],
            ),
        },
        "/api/v1/status": {
            "get": _op(
                "get_status", "status", "The gateway's version, settings and counts", ok=("200", "Status", "Status.")
            ),
        },
        "/api/v1/verify": {
            "get": _op(
                "verify",
                "status",
                "The checks of `mcp-cli verify`: database, vault, each connection's reachability",
                ok=("200", "Verify", "The report; `ok` false marks a failed check, not a failed request."),
            ),
        },
    }


def _op(
    operation_id: str,
    tag: str,
    summary: str,
    *,
    ok: tuple[str, Any, str],
    body: str | None = None,
    errors: tuple[str, ...] = (),
    params: list | None = None,
    public: bool = False,
    location: bool = False,
    description: str | None = None,
) -> dict[str, Any]:
    status, schema, ok_description = ok
    success: dict[str, Any] = {"description": ok_description}
    if schema is not None:
        success["content"] = {"application/json": {"schema": _ref(schema) if isinstance(schema, str) else schema}}
    if location:
        success["headers"] = {"Location": {"description": "The new resource's URL.", "schema": _STRING}}
    responses = {status: success}
    if body is not None:  # any body may be malformed
        errors = ("400", *errors)
    if not public:
        errors = (*errors, "401")
    for code in sorted(set(errors)):
        responses[code] = {"$ref": f"#/components/responses/{_ERRORS[code][0]}"}
    operation: dict[str, Any] = {"operationId": operation_id, "tags": [tag], "summary": summary, "responses": responses}
    if description:
        operation["description"] = description
    if public:
        operation["security"] = []
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    return operation


def _dry_run() -> dict[str, Any]:
    return _query("dry_run", "true: answer the change's impact (ConnectionImpact) and change nothing.", _BOOL)


def _with_impact(operation: dict[str, Any]) -> dict[str, Any]:
    """A delete that answers 200 and the impact when asked for a dry run."""
    answer = {"application/json": {"schema": _ref("ConnectionImpact")}}
    operation["responses"]["200"] = {"description": "dry_run=true: the impact; nothing deleted.", "content": answer}
    operation["responses"] = dict(sorted(operation["responses"].items()))
    return operation


def _streamed(operation: dict[str, Any]) -> dict[str, Any]:
    """An operation whose 200 body is a download (JSON Lines or CSV), not a JSON document."""
    text_body = {"schema": {"type": "string"}}
    operation["responses"]["200"]["content"] = {"application/x-ndjson": text_body, "text/csv": text_body}
    return operation


def _path_param(name: str, description: str, max_len: int = 64) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1, "maxLength": max_len},
    }


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF_TEMPLATE.format(model=name)}


def _items(name: str) -> dict[str, Any]:
    return _object({"items": {"type": "array", "items": _ref(name)}})


def _search(what: str) -> dict[str, Any]:
    return _query(
        "q",
        f"Only entries whose {what} contains this text (any letter case).",
        {"type": "string", "maxLength": listing.MAX_QUERY},
    )


def _enabled() -> dict[str, Any]:
    return _query("enabled", "Only enabled (true) or disabled (false) entries.", {"type": "boolean"})


def _sort(order: listing.Order) -> dict[str, Any]:
    return _query(
        "sort",
        f"The order: one of {', '.join(order.sorts)}; a leading '-' reverses it (e.g. -{order.default}). "
        f"Default {order.default}. Ties are broken by id, so pages never overlap.",
        {"type": "string", "enum": order.choices(), "default": order.default},
    )


def _listed(name: str) -> dict[str, Any]:
    count = {"type": "integer", "minimum": 0}
    return _object(
        {
            "items": {"type": "array", "items": _ref(name)},
            "total": count,
            "page": {
                "type": ["integer", "null"],
                "minimum": 1,
                "description": "The page number; null when the request used a cursor.",
            },
            "limit": {"type": "integer", "minimum": 1, "maximum": listing.MAX_LIMIT},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Send as `cursor` (with the same sort and filters) for the entries after these; "
                "null at the end of the list.",
            },
        }
    )


def _page(name: str) -> dict[str, Any]:
    count = {"type": "integer", "minimum": 0}
    return _object(
        {
            "items": {"type": "array", "items": _ref(name)},
            "total": count,
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": audit_queries.MAX_PER_PAGE},
        }
    )


def _object(properties: dict[str, Any], *, required: list[str] | None = None, closed: bool = True) -> dict[str, Any]:
    """An object schema; by default every property is required (a response) and no other is allowed."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }
    if not schema["required"]:
        del schema["required"]
    if closed:
        schema["additionalProperties"] = False
    return schema


# -- errors ----------------------------------------------------------------------------

_ERRORS = {
    "400": (
        "BadRequest",
        "The body is not a JSON object (`bad_request`) or a value is invalid (`validation_error`).",
        ["bad_request", "validation_error"],
    ),
    "401": (
        "Unauthorized",
        "No session token, or an invalid or expired one; or, at login, wrong credentials.",
        ["unauthorized", "sso_refused"],
    ),
    "403": (
        "Forbidden",
        "The user's role may not do this: changes need role `admin`; or single sign-on refused the person.",
        ["forbidden", "sso_refused"],
    ),
    "404": ("NotFound", "No such resource (or single sign-on is not configured).", ["not_found", "sso_not_configured"]),
    "409": (
        "Conflict",
        "The change conflicts with existing data (a name, prefix or token already taken; the last admin).",
        ["conflict"],
    ),
    "429": (
        "TooManyAttempts",
        "Too many sign-in attempts from this address, or failed sign-ins for this username "
        "from it; wait `Retry-After` seconds and try again.",
        ["too_many_attempts"],
    ),
    "502": (
        "Unavailable",
        "The vault (or, for single sign-on, the identity provider) could not be reached or refused the operation.",
        ["vault_error", "sso_unavailable"],
    ),
}


def _error_responses() -> dict[str, Any]:
    fields = {
        "type": "object",
        "additionalProperties": _STRING,
        "description": "When several inputs were refused at once: each one's message, by field name.",
    }
    return {
        name: {
            "description": description,
            "content": {
                "application/json": {
                    "schema": _object(
                        {"error": {"type": "string", "enum": codes}, "message": _STRING, "fields": fields},
                        required=["error", "message"],
                    )
                }
            },
        }
        for name, description, codes in _ERRORS.values()
    }


# -- schemas -----------------------------------------------------------------------------


def _models() -> dict[str, Any]:
    """The resources' shapes, from their one definition (janus.schemas)."""
    models = (
        connection_schema.ConnectionCreate,
        connection_schema.ConnectionUpdate,
        connection_schema.Connection,
        endpoint_schema.EndpointCreate,
        endpoint_schema.EndpointUpdate,
        endpoint_schema.Endpoint,
        endpoint_schema.EndpointBulk,
        endpoint_schema.EndpointBulkResult,
        import_schema.OpenApiImport,
        import_schema.OpenApiImportItem,
        import_schema.OpenApiImportResult,
        token_schema.TokenCreate,
        token_schema.TokenUpdate,
        token_schema.Token,
        token_schema.NewToken,
        user_schema.UserCreate,
        user_schema.UserUpdate,
        user_schema.User,
        vault_schema.VaultValue,
        vault_schema.VaultKey,
        vault_schema.VaultKeys,
        auth_schema.LoginRequest,
        auth_schema.SsoLoginRequest,
    )
    return {model.__name__: json_schema(model, ref_template=REF_TEMPLATE) for model in models}


def _impact_request() -> dict[str, Any]:
    """A PATCH body (ConnectionUpdate's fields and checks) with an optional `action`."""
    update = json_schema(connection_schema.ConnectionUpdate, ref_template=REF_TEMPLATE)
    action = {
        "type": "string",
        "enum": ["update", "disable", "delete"],
        "default": "update",
        "description": "update (default): the other fields are the proposed change; disable, delete: no other field.",
    }
    return {
        **update,
        "description": "The change to preview: a PATCH body, or {action: disable} or {action: delete}.",
        "properties": {"action": action, **update["properties"]},
    }


def _impact() -> dict[str, Any]:
    count = {"type": "integer", "minimum": 0}
    names = {"type": "array", "items": _STRING}
    change = {
        name: _object({"from": schema, "to": schema}) for name, schema in (("prefix", _STRING), ("enabled", _BOOL))
    }
    return _object(
        {
            "connection": _object({"id": _STRING, "name": _STRING, "prefix": _STRING, "enabled": _BOOL}),
            "action": {"type": "string", "enum": ["update", "delete"]},
            "changes": _object(change, required=[]),
            "counts": _object(
                dict.fromkeys(
                    (
                        "tools",
                        "live_tools",
                        "renamed",
                        "renamed_live",
                        "hidden",
                        "shown",
                        "removed",
                        "tokens_checked",
                        "tokens_affected",
                        "tokens_losing_tools",
                        "tokens_gaining_tools",
                        "dead_scopes",
                    ),
                    count,
                )
            ),
            "affects_clients": _BOOL,
            "summary": _STRING,
            "renamed": {
                "type": "array",
                "items": _object({"from": _STRING, "to": _STRING, "live": _BOOL}),
                "description": "Every tool of the connection a new prefix renames; live: served now.",
            },
            "hidden": {**names, "description": "Tools served now and not after the change."},
            "shown": {**names, "description": "Tools not served now and served after the change."},
            "tokens": {
                "type": "array",
                "description": "Active client tokens the change affects, the most tools lost first.",
                "items": _object(
                    {
                        "id": _STRING,
                        "name": _STRING,
                        "role": _STRING,
                        "tools_lost": count,
                        "tools_gained": count,
                        "dead_scopes": {
                            **names,
                            "description": "Scopes that match a served tool today and none after the change.",
                        },
                    }
                ),
            },
        }
    )


def _schemas() -> dict[str, Any]:
    maybe_string = {"type": ["string", "null"]}
    maybe_int = {"type": ["integer", "null"]}
    return {
        "LoginResponse": _object({"token": _STRING, "expires_at": _WHEN, "user": _ref("User")}),
        "SsoSettings": _object(
            {"issuer": _STRING, "client_id": _STRING, "scope": _STRING, "oidc_only": {"type": "boolean"}}
        ),
        **_models(),
        "ConnectionImpactRequest": _impact_request(),
        "ConnectionImpact": _impact(),
        "ToolCall": _object(
            {
                "id": {"type": "integer"},
                "created_at": _WHEN,
                "token_name": maybe_string,
                "tool_name": _STRING,
                "status": {"type": "string", "enum": list(audit_queries.STATUSES)},
                "http_status": maybe_int,
                "duration_ms": {"type": "number"},
                "error_message": maybe_string,
                "arguments_digest": maybe_string,
                "transport": maybe_string,
                "trace_id": maybe_string,
                "attempts": maybe_int,  # requests sent upstream, retries included; null: none was due
                "redactions": maybe_string,  # DLP's classes and counts, "email:2,card:1"; null: nothing masked
            }
        ),
        "AdminEvent": _object(
            {
                "id": {"type": "integer"},
                "created_at": _WHEN,
                "actor": _STRING,
                "action": _STRING,
                "target_type": _STRING,
                "target_id": maybe_string,
                "details": {
                    "type": ["object", "null"],
                    "additionalProperties": True,
                    "description": "before / after views (secrets redacted) and other facts.",
                },
            }
        ),
        "Status": _object(
            {
                "version": _STRING,
                "uptime_seconds": {"type": "number"},
                "port": {"type": "integer"},
                "database": _STRING,
                "schema_revision": maybe_string,
                "vault_provider": _STRING,
                "vault_read_only": _BOOL,
                "tls": _BOOL,
                "mtls": _BOOL,
                "oidc": _BOOL,
                "counts": _object(
                    {
                        name: {"type": "integer", "minimum": 0}
                        for name in ("connections", "tools", "tokens", "active_sessions")
                    }
                ),
            },
            closed=False,
        ),
        "Verify": _object(
            {
                "checks": {"type": "array", "items": _object({"step": _STRING, "ok": _BOOL, "detail": _STRING})},
                "targets": {
                    "type": "array",
                    "items": _object(
                        {
                            "id": _STRING,
                            "name": _STRING,
                            "base_url": _STRING,
                            "enabled": _BOOL,
                            "ok": _BOOL,
                            "http_status": maybe_int,
                            "reason": _STRING,
                            "rtt_ms": {"type": "number"},
                            "error": maybe_string,
                        }
                    ),
                },
            }
        ),
    }
