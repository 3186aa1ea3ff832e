"""API Connections (figures 3–4): list, enable/disable, create/edit, test, delete."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, flash, request, url_for
from flask_login import current_user, login_required

from janus.portal.blueprint import bp
from janus.portal.forms import checkbox, errors_of, number, texts
from janus.portal.rendering import is_htmx, redirect_to, render
from janus.portal.resilience_fields import CONNECTION_FIELDS, connection_values
from janus.portal.security import admin_required
from janus.runtime import current_runtime
from janus.schemas import connection as connection_schema
from janus.services import connections as connections_service
from janus.services import status as status_service
from janus.services import vault_keys
from janus.services.errors import ServiceError

TEMPLATE = "portal/connections/index.html"
FORM_TEMPLATE = "portal/connections/form.html"
PAGE_SIZE = 60  # connection cards a page
FIELDS = (
    ("name", "description", "prefix", "base_url", "auth_type", "auth_secret_ref", "timeout_seconds", "enabled")
    + CONNECTION_FIELDS  # upstream resilience (issue 15, item 4)
    + ("redaction",)  # DLP: "default" (REDACTION_ENABLED), "true" or "false"
)


LIST_FILTERS = ("q", "enabled", "sort")
SORTS = (
    ("", "Name (A–Z)"),
    ("-name", "Name (Z–A)"),
    ("prefix", "Prefix"),
    ("-created_at", "Newest first"),
    ("created_at", "Oldest first"),
    ("-updated_at", "Recently changed"),
    ("-endpoint_count", "Most tools"),
)


@bp.get("/connections")
@login_required
def connections():
    """One page of connections (PAGE_SIZE) by name or `sort`, searched (`q`) and filtered in the database."""
    filters = {name: request.args.get(name, "").strip() for name in LIST_FILTERS}
    problem = None
    try:
        found = connections_service.page_connections(**filters, page=request.args.get("page") or 1, limit=PAGE_SIZE)
    except ServiceError as exc:  # a hand-edited query string: say what is wrong, list nothing
        problem = exc.message
        found = {"items": [], "total": 0, "page": 1, "limit": PAGE_SIZE, "next_cursor": None}
    return render(
        TEMPLATE,
        "connection_list",
        connections=found["items"],
        found=found,
        pages=max(1, -(-found["total"] // PAGE_SIZE)),
        q=filters["q"],
        filters={k: v for k, v in filters.items() if v},
        sorts=SORTS,
        problem=problem,
    )


@bp.route("/connections/new", methods=["GET", "POST"])
@admin_required
def connection_new() -> Response:
    values: dict[str, Any] = {
        "auth_type": "none",
        "enabled": True,
        "timeout_seconds": 30,
        "retries": 0,
        "breaker_threshold": 5,
        "breaker_cooldown_seconds": 30,
    }
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = texts(request.form, FIELDS)
        try:
            created = connections_service.create_connection(current_user.username, _submitted())
            flash(f"Connection {created['name']} created; its tools are named {created['prefix']}….")
            return redirect_to(url_for("portal.connections"))
        except ServiceError as exc:
            errors = errors_of(exc, FIELDS)
    return _form(values, errors, None)


@bp.route("/connections/<connection_id>/edit", methods=["GET", "POST"])
@admin_required
def connection_edit(connection_id: str):
    """A new prefix (for a connection with tools) or unticking "enabled" shows the impact first; the
    change is made when the same values come back with `confirmed`."""
    current = connections_service.get_connection(connection_id)
    values, errors = current, {}
    if request.method == "POST":
        values = texts(request.form, FIELDS)
        try:
            submitted = _submitted()
            if not _confirmed() and _affects_clients(current, submitted):
                return _confirm(
                    connections_service.impact(connection_id, submitted),
                    url_for("portal.connection_edit", connection_id=connection_id),
                    _resubmitted(),
                    f"Change {current['name']}?",
                    "Disable connection" if _disabling(current, submitted) else "Save and rename tools",
                )
            saved = connections_service.update_connection(current_user.username, connection_id, submitted)
            flash(f"Connection {saved['name']} saved.")
            return redirect_to(url_for("portal.connections"))
        except ServiceError as exc:
            errors = errors_of(exc, FIELDS)
    return _form(values, errors, current)


@bp.post("/connections/<connection_id>/toggle")
@admin_required
def connection_toggle(connection_id: str):
    """Replaces its own card (hx-target=this), so the list stays where the admin was. Disabling shows the
    impact first (in the dialog, or a page without JavaScript); its Confirm posts `enabled=false` (the state
    wanted, not "toggle": a double submit cannot switch it back on) with `confirmed`."""
    conn = connections_service.get_connection(connection_id)
    wanted = {"true": True, "false": False}.get(request.form.get("enabled", ""), not conn["enabled"])
    if conn["enabled"] and not wanted and not _confirmed():
        response = _confirm(
            connections_service.impact(connection_id, {"action": "disable"}),
            url_for("portal.connection_toggle", connection_id=connection_id),
            [("enabled", "false")],
            f"Disable {conn['name']}?",
            "Disable connection",
        )
        if is_htmx():  # asked from the card: the question goes to the dialog
            response.headers["HX-Retarget"] = "#modal-body"
            response.headers["HX-Reswap"] = "innerHTML"
        return response
    conn = connections_service.update_connection(current_user.username, connection_id, {"enabled": wanted})
    if not is_htmx():
        flash(f"Connection {conn['name']} {'enabled' if conn['enabled'] else 'disabled'}.")
        return redirect_to(url_for("portal.connections"))
    response = render(TEMPLATE, "connection_card", conn=conn)
    if _confirmed():  # confirmed in the dialog: the card takes the answer, and the dialog closes
        response.headers["HX-Retarget"] = f"#conn-{conn['id']}"
        response.headers["HX-Reswap"] = "outerHTML"
        response.headers["HX-Trigger-After-Settle"] = json.dumps(
            {"janus-close-modal": {"focus": f"#toggle-{conn['id']}"}}
        )
    return response


@bp.route("/connections/<connection_id>/delete", methods=["GET", "POST"])
@admin_required
def connection_delete(connection_id: str):
    conn = connections_service.get_connection(connection_id)
    if request.method == "GET":  # the confirmation, with what the deletion does to live clients
        impact = connections_service.delete_impact(connection_id)
        return render("portal/connections/delete.html", "delete_form", conn=conn, impact=impact)
    connections_service.delete_connection(current_user.username, connection_id)
    flash(f"Connection {conn['name']} and its {conn['endpoint_count']} tools deleted.")
    return redirect_to(url_for("portal.connections"))


@bp.post("/connections/<connection_id>/test")
@login_required
def connection_test(connection_id: str):
    """GET of the base URL with the connection's credentials, shown in place with the start of the
    answer; viewers may run it (it changes nothing, and the excerpt has the credentials redacted)."""
    probe = status_service.test_connection(current_runtime().backend.executor, connection_id)
    if is_htmx():
        return render(TEMPLATE, "probe_result", probe=probe)
    return render(
        TEMPLATE,
        probe=probe,
        probe_for=connection_id,
        connections=connections_service.list_connections(),
        filters={},
        sorts=SORTS,
    )


@bp.get("/connections/prefix-check")
@admin_required
def connection_prefix_check():
    """The live clash check under the prefix input (hx-trigger on keyup)."""
    prefix = request.args.get("prefix", "").strip()
    problem = connections_service.prefix_problem(prefix, request.args.get("own_id") or None) if prefix else None
    return render(FORM_TEMPLATE, "prefix_feedback", prefix=prefix, problem=problem)


# -- impact before a change that affects live clients ------------------------------------------


def _confirmed() -> bool:
    return request.form.get("confirmed") == "1"


def _disabling(current: dict[str, Any], submitted: dict[str, Any]) -> bool:
    return bool(current["enabled"]) and submitted.get("enabled") is False


def _affects_clients(current: dict[str, Any], submitted: dict[str, Any]) -> bool:
    """Disabling always asks; a new prefix asks when there are tools to rename (none: straight through)."""
    prefix = (submitted.get("prefix") or "").strip()
    renaming = bool(prefix) and prefix != current["prefix"] and current["endpoint_count"] > 0
    return renaming or _disabling(current, submitted)


def _resubmitted() -> list[tuple[str, str]]:
    """The form as posted, to post again from the confirmation (its own CSRF token is fresh)."""
    return [(k, v) for k, v in request.form.items(multi=True) if k not in ("csrf_token", "confirmed")]


def _confirm(impact: dict[str, Any], action: str, resubmit: list[tuple[str, str]], title: str, confirm_label: str):
    return render(
        "portal/connections/impact.html",
        "impact_form",
        impact=impact,
        action=action,
        resubmit=resubmit,
        title=title,
        confirm_label=confirm_label,
    )


def _submitted() -> dict[str, Any]:
    """The form as the service's fields; ValidationError for a value no field could hold."""
    form = request.form
    values: dict[str, Any] = texts(form, ("name", "description", "prefix", "base_url", "auth_type", "auth_secret_ref"))
    values["enabled"] = checkbox(form, "enabled")
    timeout = number(form, "timeout_seconds")
    if timeout is not None:
        values["timeout_seconds"] = timeout
    values.update(connection_values(form))  # upstream resilience (issue 15, item 4)
    values["redaction"] = form.get("redaction", "default")  # the schema reads default/true/false
    return values


def _form(values: dict[str, Any], errors: dict[str, str], current: dict[str, Any] | None):
    """The create/edit form; 422 with each message next to its input when the service refused."""
    if "enabled" in values and isinstance(values["enabled"], str):
        values = {**values, "enabled": checkbox(request.form, "enabled")}
    status = 422 if errors else 200
    try:
        keys = vault_keys.list_keys()
    except ServiceError:
        keys = []  # the vault is down: the field stays a free text input
    return render(
        FORM_TEMPLATE,
        "connection_form",
        status=status,
        values=values,
        errors=errors,
        current=current,
        auth_types=connection_schema.AUTH_TYPES,
        vault_keys=keys,
    )
