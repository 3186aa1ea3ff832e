"""Plain, immutable descriptions of what the gateway serves.

The catalog turns database rows into these once per change, so the per-call
path (executor, scope checks) never touches the ORM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from janus.gateway.header_params import HeaderParams
from janus.gateway.shaping import Shaping

AUTH_TYPES = ("none", "bearer", "basic", "custom_headers", "oauth2_client_credentials")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")


@dataclass(frozen=True)
class ConnectionSpec:
    id: str
    name: str
    base_url: str
    auth_type: str = "none"
    auth_secret_ref: str | None = None
    timeout_seconds: float = 30.0
    # upstream resilience (issue 15, item 4; janus/gateway/retries.py, janus/gateway/circuit.py)
    retries: int = 0  # extra attempts for idempotent methods; 0: none
    breaker_threshold: int = 0  # consecutive failures that open the circuit; 0: no breaker
    breaker_cooldown_seconds: float = 30.0
    # Response shaping and DLP (janus/gateway/dlp.py): masking on (True), off (False), or REDACTION_ENABLED (None).
    redaction: bool | None = None


@dataclass(frozen=True)
class ToolSpec:
    name: str  # exposed MCP name: connection prefix + endpoint tool name
    endpoint_id: str
    description: str
    method: str
    path_template: str
    connection: ConnectionSpec
    input_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    body_template: str | None = None
    # Tool metadata (issue 15, item 2; janus/gateway/tool_metadata.py)
    title: str | None = None
    annotations: dict[str, bool] | None = None  # the admin's hints; the others derive from the method
    output_schema: dict[str, Any] | None = None
    output_validation: str = "lenient"  # off | lenient | strict (OUTPUT_POLICIES)
    definition_version: int = 1
    # upstream resilience (issue 15, item 4)
    timeout_seconds: float | None = None  # the whole call's deadline; None: the connection's
    # Response shaping (janus/gateway/shaping.py): None shapes nothing, at no cost per call.
    shaping: Shaping | None = None
    # Header parameters (janus/gateway/header_params.py): None sends none, at no cost per call.
    header_params: HeaderParams | None = None
