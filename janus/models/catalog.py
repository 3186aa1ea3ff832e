"""Connections (downstream APIs) and their endpoints (the MCP tools)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from janus.extensions import Model
from janus.models._types import UTCDateTime, new_uuid, utcnow


class Connection(Model):
    __tablename__ = "connections"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    base_url: Mapped[str] = mapped_column(String(2048))
    prefix: Mapped[str] = mapped_column(String(64), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    auth_type: Mapped[str] = mapped_column(String(40), default="none")
    auth_secret_ref: Mapped[str | None] = mapped_column(String(512))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    timeout_seconds: Mapped[float] = mapped_column(Float, default=30.0)
    # Response shaping and DLP: masking on/off for this connection's answers; NULL follows REDACTION_ENABLED.
    redaction: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # upstream resilience (issue 15, item 4): retries of idempotent calls, the circuit breaker
    retries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    breaker_threshold: Mapped[int] = mapped_column(Integer, default=5, server_default="5")
    breaker_cooldown_seconds: Mapped[float] = mapped_column(Float, default=30.0, server_default="30")

    endpoints: Mapped[list[Endpoint]] = relationship(
        back_populates="connection",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Endpoint.tool_name",
    )


class Endpoint(Model):
    __tablename__ = "endpoints"
    __table_args__ = (UniqueConstraint("connection_id", "tool_name", name="uq_endpoints_connection_tool"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), index=True)
    tool_name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    method: Mapped[str] = mapped_column(String(10), default="GET")
    path_template: Mapped[str] = mapped_column(String(2048))
    input_schema: Mapped[dict[str, Any]] = mapped_column(JSON, default=lambda: {"type": "object"})
    body_template: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Tool metadata (issue 15, item 2; janus/gateway/tool_metadata.py). NULL title: none served; an
    # annotation hint absent from `annotations` (or NULL): derived from the method, so rows written
    # before these columns get sensible hints without a data migration.
    title: Mapped[str | None] = mapped_column(String(200))
    annotations: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    output_schema: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    output_validation: Mapped[str] = mapped_column(String(10), default="lenient", server_default="lenient")
    definition_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # upstream resilience (issue 15, item 4): the whole call's deadline; NULL: the connection's timeout
    timeout_seconds: Mapped[float | None] = mapped_column(Float)
    # Response shaping (janus/gateway/shaping.py): all optional; NULL/false shapes nothing.
    response_projection: Mapped[str | None] = mapped_column(Text)  # a JMESPath expression
    max_items: Mapped[int | None] = mapped_column(Integer)
    max_text_chars: Mapped[int | None] = mapped_column(Integer)
    render_table: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Header parameters (janus/gateway/header_params.py): [{"argument", "header"} | {"header", "value"}]; NULL: none
    header_params: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)

    connection: Mapped[Connection] = relationship(back_populates="endpoints")

    @property
    def exposed_name(self) -> str:
        return f"{self.connection.prefix}{self.tool_name}"
