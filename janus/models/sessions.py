"""MCP sessions of the HTTP transports, shared by every worker and replica.

Handshake-era Streamable HTTP and legacy SSE clients keep a session across
requests; any worker (or replica on the same database) may serve its next
POST, so its state lives here rather than in one process's memory.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from janus.extensions import db
from janus.models._types import UTCDateTime, utcnow


class McpSession(db.Model):
    __tablename__ = "mcp_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    transport: Mapped[str] = mapped_column(String(20))  # streamable | sse
    # The token that opened the session; any other token gets 404 for it.
    token_hash: Mapped[str] = mapped_column(String(64), index=True)
    protocol_version: Mapped[str | None] = mapped_column(String(20))
    client_info: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    client_capabilities: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    initialized: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bus address of the process holding the session's SSE stream (legacy SSE).
    owner_node: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
