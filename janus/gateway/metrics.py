"""Prometheus metrics named by the reference product (its `mcp-cli metrics` output)."""
from __future__ import annotations

from prometheus_client import Counter, Histogram

# Exposed as mcp_tool_execution_count_total{status,tool_name}.
TOOL_CALLS = Counter(
    "mcp_tool_execution_count", "MCP tool executions by outcome.", ["status", "tool_name"]
)
TOOL_LATENCY = Histogram(
    "mcp_tool_execution_latency_seconds", "MCP tool execution latency, gateway included.", ["tool_name"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


def observe(tool_name: str, status: str, seconds: float) -> None:
    TOOL_CALLS.labels(status=status, tool_name=tool_name).inc()
    TOOL_LATENCY.labels(tool_name=tool_name).observe(seconds)
