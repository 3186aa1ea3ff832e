"""JSON-RPC and MCP error codes, and the one exception the core turns into an error response."""

from __future__ import annotations

# JSON-RPC 2.0 standard codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

# MCP-reserved sub-range (-32020..-32099), defined by the 2026-07-28 schema.
HEADER_MISMATCH = -32020
MISSING_REQUIRED_CLIENT_CAPABILITY = -32021
UNSUPPORTED_PROTOCOL_VERSION = -32022

# Implementation-defined server errors (-32000..-32099 less MCP's sub-range above).
# Throttled: a rate limit (RATE_LIMIT_PER_IP, MCP_RATE_PER_CLIENT or the token's own) or the gateway's
# MCP_MAX_CONCURRENT_CALLS; data {"reason": "address"|"client"|"concurrency", "retryAfterSeconds": n}.
THROTTLED = -32001
# Refused because the token has MAX_INFLIGHT_CALLS_PER_TOKEN messages in flight on this worker.
TOO_MANY_IN_FLIGHT = -32050
# Raised by a backend for a call the client cancelled: the core never sends it (cancellation means no
# response); the value is LSP's RequestCancelled, so it reads right in a log.
REQUEST_CANCELLED = -32800

# HTTP status the 2026-07-28 Streamable HTTP binding pairs with an error code.
# Codes not listed here ride on the transport's default status (usually 200).
HTTP_STATUS_FOR_ERROR: dict[int, int] = {
    PARSE_ERROR: 400,
    INVALID_REQUEST: 400,
    INVALID_PARAMS: 400,
    HEADER_MISMATCH: 400,
    MISSING_REQUIRED_CLIENT_CAPABILITY: 400,
    UNSUPPORTED_PROTOCOL_VERSION: 400,
    METHOD_NOT_FOUND: 404,
}


class McpError(Exception):
    """A failure that should reach the client as a JSON-RPC error object.

    Backends raise it for client-visible failures (unknown tool → INVALID_PARAMS);
    anything else they raise is reported as a generic INTERNAL_ERROR so that
    exception text (which may carry secrets) never leaves the process.
    """

    def __init__(self, code: int, message: str, data: object | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def __repr__(self) -> str:
        return f"McpError({self.code}, {self.message!r})"
