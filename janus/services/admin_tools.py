"""Janus's built-in admin tools: the admin use cases, callable over MCP by admin tokens.

The gateway lists and calls them only for active tokens with role `admin`
whose scopes match `admin_*`; every other caller gets -32601, as the
reference product specifies. Each tool runs the same service as the admin
API and CLI, with the token as the actor in the admin audit log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask

from janus.extensions import db
from janus.gateway.catalog import TokenRecord
from janus.schemas.base import Resource, json_schema
from janus.schemas.connection import ConnectionCreate, ConnectionUpdate
from janus.schemas.endpoint import HTTP_METHODS, EndpointCreate
from janus.schemas.vault import VaultSecret
from janus.services import audit_queries, connections, endpoints, listing, status, tokens, vault_keys
from janus.services.audit_statuses import STATUSES
from janus.services.errors import ServiceError

log = logging.getLogger(__name__)

_STR = {"type": "string"}
_ID = {"id": {"type": "string", "minLength": 1, "description": "The id, as the list tool shows it."}}


def _schema(properties: dict[str, Any] | None = None, required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties or {}, "required": required or [], "additionalProperties": False}


def _resource(model: type[Resource], with_id: bool = False) -> dict[str, Any]:
    """A resource's create or update schema (janus.schemas) as a tool's input; `with_id` adds the row's id."""
    schema = json_schema(model)
    if with_id:
        schema["properties"] = {**_ID, **schema["properties"]}
        schema["required"] = ["id", *schema.get("required", [])]
    return schema


def _paged(order: listing.Order, **filters: dict[str, Any]) -> dict[str, Any]:
    """A list tool's input: these filters, the search, the sort and the page (by number or cursor)."""
    return _schema(
        {
            "q": {
                "type": "string",
                "maxLength": listing.MAX_QUERY,
                "description": "Only entries containing this text (any letter case).",
            },
            **filters,
            "enabled": {"type": "boolean"},
            "sort": {
                "type": "string",
                "enum": order.choices(),
                "description": f"Default {order.default}; a leading '-' reverses the order.",
            },
            "page": {"type": "integer", "minimum": 1, "description": "Page number, from 1 (not with cursor)."},
            "cursor": {
                "type": "string",
                "maxLength": listing.MAX_CURSOR,
                "description": "An earlier answer's next_cursor, with the same sort and filters: the entries "
                "after it (not with page).",
            },
            "limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": listing.MAX_LIMIT,
                "description": f"Entries per page (default {listing.DEFAULT_LIMIT}).",
            },
        }
    )


_PAGED = (
    " One page at a time: {items, total, page, limit, next_cursor}; call again with cursor=next_cursor "
    "for the next page (next_cursor is null at the end)."
)
_HINT_FILTERS = {
    field: {"type": "boolean", "description": f"Only tools whose {hint} (as tools/list serves it) is this."}
    for field, hint in endpoints.ANNOTATION_FILTERS.items()
}


def _deleted(delete: Callable[[str, str], None]) -> Callable[[str, dict], dict[str, Any]]:
    """A handler that deletes the row named by `id` and says so."""

    def handler(actor: str, a: dict) -> dict[str, Any]:
        delete(actor, a["id"])
        return {"deleted": a["id"]}

    return handler


# name: (description, input schema, handler(actor, args) -> JSON-able, sensitive argument names)
_TOOLS: dict[str, tuple[str, dict, Callable[[str, dict], Any], frozenset[str]]] = {
    "admin_list_connections": (
        "List the registered API connections (q: part of the name, prefix, description or base URL)." + _PAGED,
        _paged(connections.ORDER),
        lambda actor, a: connections.page_connections(**a),
        frozenset(),
    ),
    "admin_add_connection": (
        "Register a downstream REST API (base URL, tool prefix, auth type, vault secret ref).",
        _resource(ConnectionCreate),
        lambda actor, a: connections.create_connection(actor, a),
        frozenset(),
    ),
    "admin_modify_connection": (
        "Change a connection; enabled=false hides its tools at once.",
        _resource(ConnectionUpdate, with_id=True),
        lambda actor, a: connections.update_connection(actor, a.pop("id"), a),
        frozenset(),
    ),
    "admin_delete_connection": (
        "Delete a connection and its tools.",
        _schema(_ID, ["id"]),
        _deleted(connections.delete_connection),
        frozenset(),
    ),
    "admin_list_endpoints": (
        "List the tools (endpoints), optionally of one connection, method or annotation (q: part of the "
        "exposed name, description or path)." + _PAGED,
        _paged(
            endpoints.ORDER,
            connection_id=_STR,
            method={"type": "string", "enum": list(HTTP_METHODS)},
            **_HINT_FILTERS,
        ),
        lambda actor, a: endpoints.page_endpoints(**a),
        frozenset(),
    ),
    "admin_add_endpoint": (
        "Expose a REST endpoint of a connection as an MCP tool.",
        _resource(EndpointCreate),
        lambda actor, a: endpoints.create_endpoint(actor, a),
        frozenset(),
    ),
    "admin_delete_endpoint": (
        "Delete a tool (endpoint).",
        _schema(_ID, ["id"]),
        _deleted(endpoints.delete_endpoint),
        frozenset(),
    ),
    "admin_list_vault_keys": (
        "List the vault's secret names (never values).",
        _schema(),
        lambda actor, a: {"keys": vault_keys.list_keys()},
        frozenset(),
    ),
    "admin_set_vault_secret": (
        "Store a secret in the vault under a key (the value is never shown again).",
        _resource(VaultSecret),
        lambda actor, a: vault_keys.set_secret(actor, a["key"], a["value"]),
        frozenset({"value"}),
    ),
    "admin_list_tokens": (
        "List client tokens (names, roles, scopes; never values; q: part of the name or scopes)." + _PAGED,
        _paged(tokens.ORDER),
        lambda actor, a: tokens.page_tokens(**a),
        frozenset(),
    ),
    "admin_list_audit_logs": (
        "Read the tool-call audit log, newest first.",
        _schema(
            {
                "tool": _STR,
                "status": {"type": "string", "enum": list(STATUSES)},
                "token": _STR,
                "since": _STR,
                "until": _STR,
                "trace": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"},
                "retried": {"type": "boolean", "description": "Only calls sent upstream more than once (or none)."},
                "redacted": {"type": "boolean", "description": "Only calls whose answer DLP masked (or not)."},
                "page": {"type": "integer", "minimum": 1},
                "per_page": {"type": "integer", "minimum": 1, "maximum": audit_queries.MAX_PER_PAGE},
            }
        ),
        lambda actor, a: audit_queries.list_tool_calls(**a),
        frozenset(),
    ),
    "admin_status": (
        "Gateway status: version, uptime, database, vault, TLS, counts.",
        _schema(),
        lambda actor, a: status.status(),
        frozenset(),
    ),
}


class AdminTools:
    names = frozenset(_TOOLS)

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._descriptors = [
            {
                "name": name,
                "description": description,
                "inputSchema": schema,
                "annotations": {
                    "readOnlyHint": name.startswith(("admin_list", "admin_status")),
                    "destructiveHint": "delete" in name,
                    "openWorldHint": False,
                },
            }
            for name, (description, schema, _, _) in sorted(_TOOLS.items())
        ]
        self._validators: dict[str, Any] = {}

    def descriptors(self) -> list[dict[str, Any]]:
        return self._descriptors

    def sensitive_arguments(self, name: str) -> frozenset[str]:
        return _TOOLS[name][3]

    def call(self, name: str, arguments: dict, token: TokenRecord) -> dict:
        _, schema, handler, _ = _TOOLS[name]
        problems = [_problem(e) for e in self._validator(name, schema).iter_errors(arguments)]
        if problems:
            return _error(f"Invalid arguments for tool '{name}': " + "; ".join(problems))
        actor = f"token:{token.name}"
        with self._app.app_context():
            try:
                value = handler(actor, dict(arguments))
            except ServiceError as exc:
                db.session.rollback()
                return _error(exc.message)
            finally:
                db.session.remove()
        text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
        return {"content": [{"type": "text", "text": text}], "structuredContent": value, "isError": False}

    def _validator(self, name: str, schema: dict):
        validator = self._validators.get(name)
        if validator is None:
            from jsonschema.validators import validator_for

            validator = self._validators[name] = validator_for(schema)(schema)
        return validator


def _problem(error: Any) -> str:
    """jsonschema's sentence, led by the argument it is about (its message alone often does not say)."""
    where = ".".join(str(part) for part in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


def _error(message: str) -> dict:
    return {"content": [{"type": "text", "text": message}], "isError": True}
