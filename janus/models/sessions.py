"""Sessions shared by every worker and replica: MCP HTTP sessions and portal sign-ins.

Handshake-era Streamable HTTP and legacy SSE clients keep a session across
requests; any worker (or replica on the same database) may serve its next
POST, so its state lives here rather than in one process's memory.

A portal sign-in lives here too, so signing out (or disabling the user, or
changing their password) ends it for good: the signed cookie alone could be
replayed until it expired.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from janus.extensions import Model
from janus.models._types import UTCDateTime, utcnow


class McpSession(Model):
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


class PortalSession(Model):
    __tablename__ = "portal_sessions"

    # SHA-256 of the random value in the signed cookie: the table alone cannot be replayed.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    # "portal" (the cookie's secret) or "api" (an admin-API/mcp-cli token's `sid`): one kind never
    # passes for the other, and both end together on a new password, disabling or deletion.
    kind: Mapped[str] = mapped_column(String(10), default="portal", server_default="portal")
