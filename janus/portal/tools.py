"""MCP Tools (figures 5–6): tools grouped by connection, the endpoint editor and the "try it" panel."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, flash, request, url_for
from flask_login import current_user, login_required

from janus.portal import tool_metadata, tools_headers, tools_shaping
from janus.portal.blueprint import bp
from janus.portal.forms import checkbox, errors_of, texts
from janus.portal.rendering import is_htmx, redirect_to, render, row_urls
from janus.portal.resilience_fields import ENDPOINT_FIELDS, endpoint_values
from janus.portal.security import admin_required
from janus.runtime import current_runtime
from janus.schemas import endpoint as endpoint_schema
from janus.services import connections as connections_service
from janus.services import endpoints as endpoints_service
from janus.services.errors import ServiceError

TEMPLATE = "portal/tools/index.html"
FORM_TEMPLATE = "portal/tools/form.html"
TRY_TEMPLATE = "portal/tools/try.html"
DETAIL_TEMPLATE = "portal/tools/detail.html"
FIELDS = (
    "connection_id",
    "tool_name",
    "description",
    "path_template",
    "method",
    "input_schema",
    "body_template",
    "enabled",
    *tools_shaping.FIELDS,  # response shaping (janus/portal/tools_shaping.py)
    tools_headers.FIELD,  # header parameters (janus/portal/tools_headers.py)
)
PAGE_SIZE = 100  # tools a page: 10,000 tools are 100 pages, not one page of 15 MB
HINT_FILTERS = tuple(endpoints_service.ANNOTATION_FILTERS)  # read_only, destructive, idempotent, open_world
LIST_FILTERS = ("q", "connection_id", "method", "enabled", *HINT_FILTERS, "sort")
# "" keeps the tools grouped by connection; any other order lists them in one table.
SORTS = (
    ("", "By connection"),
    ("name", "Name (A–Z)"),
    ("-name", "Name (Z–A)"),
    ("method", "Method"),
    ("path", "Path"),
    ("-created_at", "Newest first"),
    ("created_at", "Oldest first"),
    ("-updated_at", "Recently changed"),
)
HINT_LABELS = {
    "read_only": "Read-only",
    "destructive": "Destructive",
    "idempotent": "Idempotent",
    "open_world": "Open world",
}
NEW_SCHEMA = json.dumps({"type": "object", "properties": {}, "required": []}, indent=2)


@bp.get("/tools")
@login_required
def tools():
    """One page of tools (PAGE_SIZE), grouped by connection (or in one table when sorted otherwise),
    searched and filtered in the database."""
    filters = {name: request.args.get(name, "").strip() for name in LIST_FILTERS}
    problem = None
    try:
        found = endpoints_service.page_endpoints(**filters, page=request.args.get("page") or 1, limit=PAGE_SIZE)
    except ServiceError as exc:  # a hand-edited query string: say what is wrong, list nothing
        problem = exc.message
        found = {"items": [], "total": 0, "page": 1, "limit": PAGE_SIZE, "next_cursor": None}
    connections = connections_service.list_connections()
    pages = max(1, -(-found["total"] // PAGE_SIZE))
    flat = bool(filters["sort"])
    if flat:  # one table in the order asked for, each row naming its connection
        groups = [{"connection": None, "tools": found["items"]}] if found["items"] else []
    else:
        # Connections without tools only when nothing is filtered, after the last page of tools.
        empty_too = not any(filters.values()) and found["page"] >= pages
        groups = _groups(found["items"], connections, empty_too)
    return render(
        TEMPLATE,
        "tool_groups",
        groups=groups,
        flat=flat,
        urls_for=_tool_urls(),
        filters={k: v for k, v in filters.items() if v},
        found=found,
        pages=pages,
        problem=problem,
        connections=connections,
        methods=endpoint_schema.HTTP_METHODS,
        sorts=SORTS,
        hint_labels=HINT_LABELS,
    )


@bp.get("/tools/<endpoint_id>")
@login_required
def tool_detail(endpoint_id: str):
    """Everything about one tool, read-only: what a viewer can see (the editor is admin-only)."""
    tool = endpoints_service.get_endpoint(endpoint_id)
    return render(
        DETAIL_TEMPLATE,
        "tool_detail",
        tool=tool,
        schema_json=json.dumps(tool["input_schema"], indent=2, ensure_ascii=False),
        annotations=tool_metadata.effective(tool),
    )


@bp.route("/tools/new", methods=["GET", "POST"])
@admin_required
def tool_new() -> Response:
    values: dict[str, Any] = {
        "method": "GET",
        "enabled": True,
        "input_schema": NEW_SCHEMA,
        "connection_id": request.args.get("connection_id", ""),
        **tool_metadata.stored_values({}),
    }
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = _form_values()
        try:
            created = endpoints_service.create_endpoint(current_user.username, _submitted(values))
            flash(f"Tool {created['exposed_name']} created.")
            return redirect_to(url_for("portal.tools"))
        except ServiceError as exc:
            errors = errors_of(exc, FIELDS + tool_metadata.FIELDS + ENDPOINT_FIELDS)
    return _form(values, errors, None)


@bp.route("/tools/<endpoint_id>/edit", methods=["GET", "POST"])
@admin_required
def tool_edit(endpoint_id: str):
    current = endpoints_service.get_endpoint(endpoint_id)
    values = {
        **current,
        "input_schema": json.dumps(current["input_schema"], indent=2),
        tools_headers.FIELD: tools_headers.text_of(current.get(tools_headers.FIELD)),
        **tool_metadata.stored_values(current),
    }
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = _form_values()
        try:
            changes = {k: v for k, v in _submitted(values).items() if k != "connection_id"}  # tools do not move
            saved = endpoints_service.update_endpoint(current_user.username, endpoint_id, changes)
            flash(f"Tool {saved['exposed_name']} saved.")
            return redirect_to(url_for("portal.tools"))
        except ServiceError as exc:
            errors = errors_of(exc, FIELDS + tool_metadata.FIELDS + ENDPOINT_FIELDS)
    return _form(values, errors, current)


@bp.post("/tools/<endpoint_id>/toggle")
@admin_required
def tool_toggle(endpoint_id: str):
    tool = endpoints_service.get_endpoint(endpoint_id)
    tool = endpoints_service.update_endpoint(current_user.username, endpoint_id, {"enabled": not tool["enabled"]})
    if not is_htmx():
        return redirect_to(url_for("portal.tools"))
    # A row of the one-table list (sorted) has a connection cell too: the form says which list it is in.
    return render(TEMPLATE, "tool_row", tool=tool, urls_for=_tool_urls(), flat=request.form.get("flat") == "1")


@bp.route("/tools/<endpoint_id>/delete", methods=["GET", "POST"])
@admin_required
def tool_delete(endpoint_id: str):
    tool = endpoints_service.get_endpoint(endpoint_id)
    if request.method == "GET":  # without JavaScript: a confirmation page instead of hx-confirm
        return render("portal/tools/delete.html", tool=tool)
    endpoints_service.delete_endpoint(current_user.username, endpoint_id)
    flash(f"Tool {tool['exposed_name']} deleted.")
    return redirect_to(url_for("portal.tools"))


@bp.post("/tools/bulk")
@admin_required
def tools_bulk():
    """Enable, disable or delete the tools ticked on the list, then back to the same page of it."""
    action = request.form.get("action", "")
    try:
        changed = endpoints_service.bulk_change(current_user.username, action, request.form.getlist("ids"))
    except ServiceError as exc:
        flash(exc.message)
    else:
        done = {"enable": "enabled", "disable": "disabled", "delete": "deleted"}[action]
        flash(f"{changed} tool{'' if changed == 1 else 's'} {done}.")
    back: dict[str, Any] = {k: v for k, v in request.form.items() if k in (*LIST_FILTERS, "page") and v}
    return redirect_to(url_for("portal.tools", **back))


@bp.post("/tools/schema-check")
@admin_required
def tool_schema_check():
    """The JSON-Schema editor's live verdict (POST: a schema can be long)."""
    raw = request.form.get("input_schema", "")
    return render(FORM_TEMPLATE, "schema_feedback", problem=endpoints_service.schema_problem(raw), checked=True)


@bp.route("/tools/<endpoint_id>/try", methods=["GET", "POST"])
@admin_required
def tool_try(endpoint_id: str):
    """Call the tool through the gateway with sample arguments and show the request, the upstream's HTTP status,
    the duration and the MCP result.

    Admin-only: a trial call reaches the real upstream with the connection's credentials. A write tool
    (POST, PUT, PATCH, DELETE) takes two steps, with or without JavaScript: the first submit only shows the
    exact request; the service calls it only on `confirm=1` with that request's digest (services.endpoints).
    """
    tool = endpoints_service.get_endpoint(endpoint_id)
    confirm_first = endpoints_service.needs_confirmation(tool["method"])
    arguments = json.dumps(endpoints_service.sample_arguments(tool["input_schema"]), indent=2)
    preview, outcome, errors, status, notice = None, None, {}, 200, None
    if request.method == "POST":
        arguments = request.form.get("arguments", "")
        try:
            if request.form.get("edit"):
                pass  # "Change arguments": back to the editable form, nothing previewed or called
            elif confirm_first and request.form.get("confirm") != "1":
                preview = endpoints_service.preview_endpoint(current_runtime().backend, endpoint_id, arguments)
            else:
                outcome = endpoints_service.try_endpoint(
                    current_runtime().backend,
                    current_user.username,
                    endpoint_id,
                    arguments,
                    confirmed=request.form.get("request_digest"),
                )
        except endpoints_service.ConfirmationRequired as exc:
            preview, notice = exc.preview, exc.message  # the request as it stands now, to confirm afresh
        except ServiceError as exc:
            errors, status = errors_of(exc, ("arguments",)), 422
    # The MCP answer as a client would get it; the request, status and duration are shown apart.
    answer = {k: outcome[k] for k in ("tool", "arguments", "result", "error") if k in outcome} if outcome else None
    return render(
        TRY_TEMPLATE,
        "try_panel",
        status=status,
        tool=tool,
        arguments=arguments,
        errors=errors,
        confirm_first=confirm_first,
        preview=preview,
        notice=notice,
        outcome=outcome,
        outcome_json=json.dumps(answer, indent=2, ensure_ascii=False) if answer else "",
    )


def _tool_urls():
    return row_urls(
        "endpoint_id",
        view="portal.tool_detail",
        try_it="portal.tool_try",
        toggle="portal.tool_toggle",
        edit="portal.tool_edit",
    )


def _groups(tools: list[dict[str, Any]], connections: list[dict[str, Any]], empty_too: bool) -> list[dict[str, Any]]:
    by_connection: dict[str, list[dict[str, Any]]] = {}
    for tool in tools:
        by_connection.setdefault(tool["connection_id"], []).append(tool)
    return [
        {"connection": conn, "tools": by_connection.get(conn["id"], [])}
        for conn in connections
        if conn["id"] in by_connection or (empty_too and not conn["endpoint_count"])
    ]


def _form_values() -> dict[str, Any]:
    values: dict[str, Any] = texts(request.form, FIELDS[: FIELDS.index("enabled")])
    values["enabled"] = checkbox(request.form, "enabled")
    values.update(endpoint_values(request.form))  # upstream resilience (issue 15, item 4)
    values |= tools_shaping.form_values(request.form)
    values[tools_headers.FIELD] = request.form.get(tools_headers.FIELD, "")  # the text as typed, parsed on submit
    return values | tool_metadata.form_values(request.form)


def _submitted(values: dict[str, Any]) -> dict[str, Any]:
    data = dict(values)
    data["body_template"] = data.get("body_template") or None
    data[tools_headers.FIELD] = tools_headers.parsed(data.get(tools_headers.FIELD) or "")
    return {k: v for k, v in data.items() if not k.startswith("hint_")} | tool_metadata.submitted(values)


def _form(values: dict[str, Any], errors: dict[str, str], current: dict[str, Any] | None):
    """The editor; 422 with each message next to its input when the service refused."""
    return render(
        FORM_TEMPLATE,
        "tool_form",
        status=422 if errors else 200,
        values=values,
        errors=errors,
        current=current,
        connections=connections_service.list_connections(),
        methods=endpoint_schema.HTTP_METHODS,
        **tool_metadata.context(values.get("method")),
    )
