"""The MCP protocol core: JSON-RPC envelope, error codes, version negotiation, method dispatch.

Pure and synchronous: standard library only, nothing else of Janus. Transports
parse the wire, call `McpServer.handle` / `handle_raw`, and write back what it
returns; the gateway plugs in as a `ToolBackend`.
"""

from __future__ import annotations

from .cancellation import CancelSignal
from .errors import (
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    PARSE_ERROR,
    UNSUPPORTED_PROTOCOL_VERSION,
    McpError,
)
from .jsonrpc import error_response, notification, result_response
from .server import TOOLS_LIST_CHANGED, McpServer, RequestContext, Session, ToolBackend, ToolListing
from .versions import (
    HANDSHAKE_VERSIONS,
    LATEST,
    LATEST_HANDSHAKE,
    STATELESS_VERSIONS,
    SUPPORTED_VERSIONS,
    is_supported,
    negotiate,
)

__all__ = [
    "CancelSignal",
    "HANDSHAKE_VERSIONS",
    "HEADER_MISMATCH",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "LATEST",
    "LATEST_HANDSHAKE",
    "METHOD_NOT_FOUND",
    "MISSING_REQUIRED_CLIENT_CAPABILITY",
    "McpError",
    "McpServer",
    "PARSE_ERROR",
    "RequestContext",
    "STATELESS_VERSIONS",
    "SUPPORTED_VERSIONS",
    "Session",
    "TOOLS_LIST_CHANGED",
    "ToolBackend",
    "ToolListing",
    "UNSUPPORTED_PROTOCOL_VERSION",
    "error_response",
    "is_supported",
    "negotiate",
    "notification",
    "result_response",
]
