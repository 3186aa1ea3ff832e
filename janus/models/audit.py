"""The two audit trails: tool calls (by LLM clients) and admin changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from janus.extensions import Model
from janus.models._types import UTCDateTime, utcnow


class ToolCallLog(Model):
    __tablename__ = "tool_call_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    token_name: Mapped[str | None] = mapped_column(String(200), index=True)
    tool_name: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # success | failure | denied
    http_status: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    error_message: Mapped[str | None] = mapped_column(Text)
    # SHA-256 of the canonical arguments: proves what was sent without storing
    # values that may be personal data or secrets.
    arguments_digest: Mapped[str | None] = mapped_column(String(64))
    transport: Mapped[str | None] = mapped_column(String(20))
    # The W3C trace id (32 hex) of the call: the caller's, or the gateway's own span's (janus/gateway/tracing.py).
    trace_id: Mapped[str | None] = mapped_column(String(32), index=True)
    # Unique per call, drawn by the process that answered it (janus.services.audit_spool): a spool
    # replayed after a crash skips the rows that were already committed.
    call_id: Mapped[str | None] = mapped_column(String(40), unique=True, index=True)
    # upstream resilience (issue 15, item 4): requests sent upstream, retries included; NULL: none was due
    attempts: Mapped[int | None] = mapped_column(Integer)
    # Response shaping and DLP: the classes and counts of values masked ("email:2,card:1"), never a value.
    redactions: Mapped[str | None] = mapped_column(String(400))


class AdminAuditLog(Model):
    __tablename__ = "admin_audit_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))  # e.g. connection.create
    target_type: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # before/after, secrets redacted
