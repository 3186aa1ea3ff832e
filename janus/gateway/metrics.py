"""Prometheus metrics named by the reference product (its `mcp-cli metrics` output)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Exposed as mcp_tool_execution_count_total{status,tool_name}.
TOOL_CALLS = Counter("mcp_tool_execution_count", "MCP tool executions by outcome.", ["status", "tool_name"])
TOOL_LATENCY = Histogram(
    "mcp_tool_execution_latency_seconds",
    "MCP tool execution latency, gateway included.",
    ["tool_name"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

# Calls between arrival and answer, summed over live worker processes (the portal's "running calls").
IN_FLIGHT = Gauge("mcp_tool_calls_in_flight", "MCP tool calls being executed right now.", multiprocess_mode="livesum")


_counters: dict[tuple[str, str], Counter] = {}
_histograms: dict[str, Histogram] = {}


def observe(tool_name: str, status: str, seconds: float) -> None:
    # labels() looks the child up by keyword each time; the children are kept here instead
    # (bounded: tool names come from the catalog, unknown ones share one label).
    counter = _counters.get((tool_name, status))
    if counter is None:
        counter = _counters[(tool_name, status)] = TOOL_CALLS.labels(status=status, tool_name=tool_name)
    histogram = _histograms.get(tool_name)
    if histogram is None:
        histogram = _histograms[tool_name] = TOOL_LATENCY.labels(tool_name=tool_name)
    counter.inc()
    histogram.observe(seconds)


def in_flight() -> int:
    """IN_FLIGHT summed over this server's processes (all gunicorn workers when multiprocess)."""
    import os

    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return int(IN_FLIGHT._value.get())
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]  # unannotated in prometheus_client
    value = registry.get_sample_value("mcp_tool_calls_in_flight")
    return int(value or 0)
