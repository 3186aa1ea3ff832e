"""Reading the audit trails: filters and pagination shared by the API, CLI and portal."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select

from janus.extensions import db
from janus.models import AdminAuditLog, ToolCallLog
from janus.services._common import iso, storable
from janus.services.errors import ValidationError

STATUSES = ("success", "failure", "denied")
MAX_PER_PAGE = 500


def tool_call_view(row: ToolCallLog) -> dict[str, Any]:
    return {"id": row.id, "created_at": iso(row.created_at), "token_name": row.token_name, "tool_name": row.tool_name,
            "status": row.status, "http_status": row.http_status, "duration_ms": row.duration_ms,
            "error_message": row.error_message, "arguments_digest": row.arguments_digest, "transport": row.transport}


def admin_event_view(row: AdminAuditLog) -> dict[str, Any]:
    return {"id": row.id, "created_at": iso(row.created_at), "actor": row.actor, "action": row.action,
            "target_type": row.target_type, "target_id": row.target_id, "details": row.details}


def list_tool_calls(*, tool: str | None = None, status: str | None = None, token: str | None = None,
                    since: str | None = None, until: str | None = None, page: Any = 1, per_page: Any = 50) -> dict[str, Any]:
    query = select(ToolCallLog)
    if tool:
        query = query.where(ToolCallLog.tool_name == storable("tool", tool))
    if status:
        if status not in STATUSES:
            raise ValidationError(f"status must be one of {', '.join(STATUSES)}")
        query = query.where(ToolCallLog.status == status)
    if token:
        query = query.where(ToolCallLog.token_name == storable("token", token))
    query = _time_range(query, ToolCallLog.created_at, since, until)
    return _page(query, ToolCallLog.id, tool_call_view, page, per_page)


def list_admin_events(*, actor: str | None = None, action: str | None = None, since: str | None = None,
                      until: str | None = None, page: Any = 1, per_page: Any = 50) -> dict[str, Any]:
    query = select(AdminAuditLog)
    if actor:
        query = query.where(AdminAuditLog.actor == storable("actor", actor))
    if action:
        query = query.where(AdminAuditLog.action == storable("action", action))
    query = _time_range(query, AdminAuditLog.created_at, since, until)
    return _page(query, AdminAuditLog.id, admin_event_view, page, per_page)


def _time_range(query, column, since: str | None, until: str | None):
    if since:
        query = query.where(column >= _when("since", since))
    if until:
        query = query.where(column <= _when("until", until))
    return query


def _when(name: str, raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        # In UTC now: a date at the edge of year 1 or 9999 must not overflow when the query binds it.
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise ValidationError(f"{name} must be an ISO 8601 date-time, e.g. 2026-11-25T00:00:00Z") from None


def _page(query, id_column, to_view, page: Any, per_page: Any) -> dict[str, Any]:
    try:
        page, per_page = int(page), int(per_page)
    except (TypeError, ValueError):
        raise ValidationError("page and per_page must be whole numbers") from None
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise ValidationError(f"page must be at least 1 and per_page between 1 and {MAX_PER_PAGE}")
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    offset = (page - 1) * per_page
    # Past the end there is nothing to fetch, and a huge offset would overflow the database's integer.
    rows = db.session.scalars(query.order_by(id_column.desc()).offset(offset).limit(per_page)).all() if offset < total else []
    return {"items": [to_view(r) for r in rows], "total": total, "page": page, "per_page": per_page}
