"""The audit trails, filtered and paged: /api/v1/audit/tool-calls and /api/v1/audit/admin."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Response, jsonify, request, stream_with_context

from janus.admin_api.blueprint import bp
from janus.auth.admin import require
from janus.services import audit_queries, audit_retention

TOOL_CALL_FILTERS = ("tool", "status", "token", "since", "until", "trace", "retried", "redacted", "page", "per_page")
ADMIN_EVENT_FILTERS = ("actor", "action", "since", "until", "page", "per_page")


@bp.get("/audit/tool-calls")
@require("viewer")
def list_tool_calls() -> Response:
    return jsonify(audit_queries.list_tool_calls(**_query(TOOL_CALL_FILTERS)))


@bp.get("/audit/tool-calls/export")
@require("viewer")
def export_tool_calls() -> Response:
    """Streamed: a bad since/until/format is refused (400) before the first byte."""
    fmt = request.args.get("format") or "jsonl"
    chunks = audit_retention.export_rows(since=request.args.get("since"), until=request.args.get("until"), fmt=fmt)
    mimetype = "text/csv" if fmt == "csv" else "application/x-ndjson"
    response = Response(stream_with_context(chunks), mimetype=mimetype)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    response.headers["Content-Disposition"] = f'attachment; filename="janus-tool-calls-{stamp}.{fmt}"'
    return response


@bp.get("/audit/admin")
@require("viewer")
def list_admin_events() -> Response:
    return jsonify(audit_queries.list_admin_events(**_query(ADMIN_EVENT_FILTERS)))


def _query(names: tuple[str, ...]) -> dict[str, Any]:
    # Only what the caller sent: the service owns the defaults (page 1, 50 per page).
    return {name: request.args[name] for name in names if name in request.args}
