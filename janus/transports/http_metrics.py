"""Refusals on the MCP HTTP transports.

prometheus-flask-exporter measures the portal, the admin API and the REST
tools; /sse and /messages are left out of it (its per-request label lookup
and latency histogram cost more than the rest of Flask's request handling),
and /mcp never passes through Flask at all. What matters there is measured
anyway: each tool call in mcp_tool_execution_*, and each refused request
(401, 403, 404, 406, 413 …) here, with cached label children.
"""

from __future__ import annotations

from prometheus_client import Counter

# Exposed as mcp_http_rejected_requests_total{transport,method,status}.
REJECTED_REQUESTS = Counter(
    "mcp_http_rejected_requests",
    "Requests to the MCP HTTP transports answered with a 4xx or 5xx status.",
    ["transport", "method", "status"],
)
EXCLUDED_FROM_FLASK_METRICS = ("^/sse$", "^/messages$")

_children: dict[tuple[str, str, int], Counter] = {}


def count_request(transport: str, method: str, status: int) -> None:
    """Count a refused request (status >= 400); successes are not counted here."""
    if status < 400:
        return
    key = (transport, method, status)
    child = _children.get(key)
    if child is None:
        if len(_children) > 1000:  # methods are client-chosen strings: keep the label set bounded
            key = (transport, "other", status)
            child = _children.get(key)
        if child is None:
            child = _children[key] = REJECTED_REQUESTS.labels(transport=transport, method=key[1], status=str(status))
    child.inc()
