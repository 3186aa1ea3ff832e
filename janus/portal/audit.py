"""Audit Logs (figure 14): tool calls and admin changes, filtered, paged and exported as CSV."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypedDict

from flask import Response, request, stream_with_context, url_for
from flask_login import login_required

from janus.portal.blueprint import bp
from janus.portal.forms import errors_of
from janus.portal.rendering import is_htmx, render
from janus.services import audit_queries
from janus.services.errors import ServiceError

TEMPLATE = "portal/audit/index.html"
PER_PAGE = 50


class Tab(TypedDict):
    endpoint: str
    export: str
    filters: tuple[str, ...]  # query-string names = the service's keyword arguments
    list: Callable[..., dict[str, Any]]
    csv: Callable[..., Iterator[str]]
    file: str


# Each tab: its filters (query-string names = the service's keyword arguments), lister, exporter.
TABS: dict[str, Tab] = {
    "calls": {
        "endpoint": "portal.audit",
        "export": "portal.audit_export",
        "filters": ("tool", "status", "token", "since", "until", "trace", "retried", "redacted"),
        "list": audit_queries.list_tool_calls,
        "csv": audit_queries.export_tool_calls_csv,
        "file": "tool-calls",
    },
    "admin": {
        "endpoint": "portal.audit_admin",
        "export": "portal.audit_admin_export",
        "filters": ("actor", "action", "since", "until"),
        "list": audit_queries.list_admin_events,
        "csv": audit_queries.export_admin_events_csv,
        "file": "admin-changes",
    },
}


@bp.get("/audit")
@login_required
def audit():
    return _listing("calls")


@bp.get("/audit/admin")
@login_required
def audit_admin():
    return _listing("admin")


@bp.get("/audit/export.csv")
@login_required
def audit_export():
    return _export("calls")


@bp.get("/audit/admin/export.csv")
@login_required
def audit_admin_export():
    return _export("admin")


def redactions_text(stored: str | None) -> str:
    """The audit row's DLP summary ("email:2,jwt:1") as the table shows it: "email×2, jwt×1" ("" for none)."""
    if not stored:
        return ""
    return ", ".join(part.replace(":", "×", 1) for part in stored.split(","))


def _filters(tab: str) -> dict[str, str]:
    """The filters the admin set (blank inputs are no filter), as the service's keyword arguments."""
    return {name: value for name in TABS[tab]["filters"] if (value := request.args.get(name, "").strip())}


def _listing(tab: str):
    spec, filters = TABS[tab], _filters(tab)
    result, errors = None, {}
    try:
        result = spec["list"](**filters, page=request.args.get("page", "1"), per_page=PER_PAGE)
    except ServiceError as exc:
        errors = errors_of(exc, spec["filters"] + ("page",))
    pages = max(1, math.ceil(result["total"] / PER_PAGE)) if result else 1
    # htmx asks for the whole page when it restores history it has not cached.
    block = None if request.headers.get("HX-History-Restore-Request") == "true" else "audit_panel"
    response = render(
        TEMPLATE,
        block,
        status=422 if errors else 200,
        tab=tab,
        spec=spec,
        filters=filters,
        result=result,
        pages=pages,
        errors=errors,
        statuses=audit_queries.STATUSES,
        choices=audit_queries.filter_choices(),
        redactions_text=redactions_text,
    )
    if is_htmx():  # the address bar shows the filters set, not every blank input of the form
        page = request.args.get("page", "").strip()
        values: dict[str, Any] = {**filters, **({"page": page} if page not in ("", "1") else {})}
        response.headers["HX-Push-Url"] = url_for(spec["endpoint"], **values)
    return response


def _export(tab: str):
    spec = TABS[tab]
    try:
        chunks = spec["csv"](**_filters(tab))  # checks the filters before the first byte goes out
    except ServiceError:
        return _listing(tab)  # the same page with the message next to the bad filter
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    response = Response(stream_with_context(chunks), mimetype="text/csv")  # text/csv; charset=utf-8
    response.headers["Content-Disposition"] = f'attachment; filename="janus-{spec["file"]}-{stamp}.csv"'
    return response
