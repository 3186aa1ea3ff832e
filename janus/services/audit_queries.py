"""Reading the audit trails: filters and pagination shared by the API, CLI and portal, and CSV export."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select

from janus.extensions import db
from janus.models import AdminAuditLog, ToolCallLog
from janus.services import listing
from janus.services._common import iso, storable
from janus.services.audit_statuses import STATUSES
from janus.services.errors import ValidationError

MAX_PER_PAGE = 500
EXPORT_BATCH = 1000  # rows per query while streaming a CSV: memory stays flat however long the log
CHOICES_SHOWN = 200
CHOICES_SCANNED = 5000
TOOL_CALL_COLUMNS = (
    "created_at",
    "token_name",
    "tool_name",
    "status",
    "http_status",
    "duration_ms",
    "error_message",
    "transport",
    "arguments_digest",
    "trace_id",
    "attempts",  # upstream resilience (issue 15, item 4): requests sent, retries included
    "redactions",  # DLP: the classes and counts masked in the answer, never a value
)
ADMIN_EVENT_COLUMNS = ("created_at", "actor", "action", "target_type", "target_id", "details")
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TRACE_ID = re.compile(r"[0-9a-f]{32}")  # W3C trace id: what tool_call_logs.trace_id holds


def tool_call_view(row: ToolCallLog) -> dict[str, Any]:
    return {
        "id": row.id,
        "created_at": iso(row.created_at),
        "token_name": row.token_name,
        "tool_name": row.tool_name,
        "status": row.status,
        "http_status": row.http_status,
        "duration_ms": row.duration_ms,
        "error_message": row.error_message,
        "arguments_digest": row.arguments_digest,
        "transport": row.transport,
        "trace_id": row.trace_id,
        "attempts": row.attempts,  # upstream resilience (issue 15, item 4)
        "redactions": row.redactions,
    }


def admin_event_view(row: AdminAuditLog) -> dict[str, Any]:
    return {
        "id": row.id,
        "created_at": iso(row.created_at),
        "actor": row.actor,
        "action": row.action,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "details": row.details,
    }


def list_tool_calls(
    *,
    tool: str | None = None,
    status: str | None = None,
    token: str | None = None,
    since: str | None = None,
    until: str | None = None,
    trace: str | None = None,
    retried: Any = None,
    redacted: Any = None,
    page: Any = 1,
    per_page: Any = 50,
) -> dict[str, Any]:
    """`retried`: true for the calls sent upstream more than once, false for the others (blank: no filter);
    `redacted`: true for the calls whose answer DLP masked something in, false for the others."""
    query = _tool_call_query(tool, status, token, since, until, trace, retried, redacted)
    return _page(query, ToolCallLog.id, tool_call_view, page, per_page)


def list_admin_events(
    *,
    actor: str | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
    page: Any = 1,
    per_page: Any = 50,
) -> dict[str, Any]:
    query = _admin_event_query(actor, action, since, until)
    return _page(query, AdminAuditLog.id, admin_event_view, page, per_page)


def export_tool_calls_csv(
    *,
    tool: str | None = None,
    status: str | None = None,
    token: str | None = None,
    since: str | None = None,
    until: str | None = None,
    trace: str | None = None,
    retried: Any = None,
    redacted: Any = None,
) -> Iterator[str]:
    """The filtered tool calls as CSV text chunks, newest first.

    The filters are checked now (a bad one raises ValidationError before any byte is sent);
    the rows are read lazily, EXPORT_BATCH at a time, while the caller streams the chunks.
    """
    query = _tool_call_query(tool, status, token, since, until, trace, retried, redacted)
    return _csv_chunks(query, ToolCallLog, TOOL_CALL_COLUMNS)


def export_admin_events_csv(
    *, actor: str | None = None, action: str | None = None, since: str | None = None, until: str | None = None
) -> Iterator[str]:
    """Like export_tool_calls_csv; `details` (before/after, secrets already redacted) is one JSON cell."""
    query = _admin_event_query(actor, action, since, until)
    return _csv_chunks(query, AdminAuditLog, ADMIN_EVENT_COLUMNS)


def filter_choices() -> dict[str, list[str]]:
    """Values seen in the recent rows of the trails, offered as suggestions beside the filter inputs.

    Only the newest CHOICES_SCANNED rows are looked at: a page view must not scan a huge log.
    """

    def distinct(model, column) -> list[str]:
        recent = select(column.label("value")).order_by(model.id.desc()).limit(CHOICES_SCANNED).subquery()
        return list(
            db.session.scalars(
                select(recent.c.value)
                .where(recent.c.value.is_not(None))
                .distinct()
                .order_by(recent.c.value)
                .limit(CHOICES_SHOWN)
            )
        )

    return {
        "tools": distinct(ToolCallLog, ToolCallLog.tool_name),
        "tokens": distinct(ToolCallLog, ToolCallLog.token_name),
        "actors": distinct(AdminAuditLog, AdminAuditLog.actor),
        "actions": distinct(AdminAuditLog, AdminAuditLog.action),
    }


def safe_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: a leading apostrophe defuses a would-be formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _tool_call_query(tool, status, token, since, until, trace=None, retried=None, redacted=None):
    query = select(ToolCallLog)
    was_retried = listing.flag("retried", retried)
    if was_retried is not None:  # more than one request sent upstream (NULL: none was due, 0: circuit open)
        more = ToolCallLog.attempts > 1
        query = query.where(more if was_retried else or_(ToolCallLog.attempts.is_(None), ToolCallLog.attempts <= 1))
    was_redacted = listing.flag("redacted", redacted)
    if was_redacted is not None:  # NULL when DLP masked nothing (or was off)
        query = query.where(ToolCallLog.redactions.is_not(None) if was_redacted else ToolCallLog.redactions.is_(None))
    if trace:
        trace_id = trace.strip().lower()
        if not _TRACE_ID.fullmatch(trace_id):
            raise ValidationError("trace must be a trace id: 32 hexadecimal digits", field="trace")
        query = query.where(ToolCallLog.trace_id == trace_id)
    if tool:
        query = query.where(_contains(ToolCallLog.tool_name, storable("tool", tool)))
    if status:
        if status not in STATUSES:
            raise ValidationError(f"status must be one of {', '.join(STATUSES)}", field="status")
        query = query.where(ToolCallLog.status == status)
    if token:
        query = query.where(_contains(ToolCallLog.token_name, storable("token", token)))
    return _time_range(query, ToolCallLog.created_at, since, until)


def _admin_event_query(actor, action, since, until):
    query = select(AdminAuditLog)
    if actor:
        query = query.where(_contains(AdminAuditLog.actor, storable("actor", actor)))
    if action:
        query = query.where(_contains(AdminAuditLog.action, storable("action", action)))
    return _time_range(query, AdminAuditLog.created_at, since, until)


def _contains(column, text: str):
    """A filter matches any part of the value, in any letter case ("weather" finds weather_get_forecast);
    %, _ and \\ match only themselves."""
    return func.lower(column).contains(text.lower(), autoescape=True)


def parse_range(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """The ISO 8601 bounds of a time-range filter, checked (ValidationError naming the field)."""
    start = _when("since", since) if since else None
    end = _when("until", until) if until else None
    if start is not None and end is not None and end < start:
        raise ValidationError("until must not be before since", field="until")
    return start, end


def _time_range(query, column, since: str | None, until: str | None):
    start, end = parse_range(since, until)
    if start is not None:
        query = query.where(column >= start)
    if end is not None:
        query = query.where(column <= end)
    return query


def _when(name: str, raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        # In UTC now: a date at the edge of year 1 or 9999 must not overflow when the query binds it.
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValidationError(f"{name} must be an ISO 8601 date-time, e.g. 2026-11-25T00:00:00Z", field=name) from None


def _page(query, id_column, to_view, page: Any, per_page: Any) -> dict[str, Any]:
    try:
        page, per_page = int(page), int(per_page)
    except (TypeError, ValueError):
        raise ValidationError("page and per_page must be whole numbers", field="page") from None
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise ValidationError(f"page must be at least 1 and per_page between 1 and {MAX_PER_PAGE}", field="page")
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    offset = (page - 1) * per_page
    # Past the end there is nothing to fetch, and a huge offset would overflow the database's integer.
    rows = (
        db.session.scalars(query.order_by(id_column.desc()).offset(offset).limit(per_page)).all()
        if offset < total
        else []
    )
    return {"items": [to_view(r) for r in rows], "total": total, "page": page, "per_page": per_page}


def _csv_chunks(query, model, columns: tuple[str, ...]) -> Iterator[str]:
    # Plain column tuples, not ORM objects: nothing accumulates in the session's identity map.
    # Keyset paging (id below the last one sent) keeps each batch a cheap index range, however deep.
    rows_query = query.with_only_columns(model.id, *(getattr(model, c) for c in columns))
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # RFC 4180: quotes where needed, CRLF line ends
    writer.writerow(columns)
    last_id = None
    while True:
        batch_query = rows_query if last_id is None else rows_query.where(model.id < last_id)
        batch = db.session.execute(batch_query.order_by(model.id.desc()).limit(EXPORT_BATCH)).all()
        for row in batch:
            writer.writerow([safe_cell(_cell(value)) for value in row[1:]])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(batch) < EXPORT_BATCH:
            return
        last_id = batch[-1][0]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return value
