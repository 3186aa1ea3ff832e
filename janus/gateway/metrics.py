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


# -- upstream resilience (issue 15, item 4) ------------------------------------------------------------------
# Each connection's circuit (janus/gateway/circuit.py): 0 closed, 1 half-open, 2 open. The breakers are per
# worker process; over the live workers the worst state wins (livemax).
CIRCUIT_STATE = Gauge(
    "mcp_upstream_circuit_state",
    "Circuit breaker state per connection: 0 closed, 1 half-open, 2 open (worst over live workers).",
    ["connection"],
    multiprocess_mode="livemax",
)
CIRCUIT_OPENS = Counter("mcp_upstream_circuit_opens", "Times a connection's circuit opened.", ["connection"])
_CIRCUIT_VALUES = {"closed": 0, "half_open": 1, "open": 2}
CIRCUIT_NAMES = {value: name for name, value in _CIRCUIT_VALUES.items()}


def circuit_changed(connection: str, state: str) -> None:
    """A breaker changed state (never on a call that leaves it as it was: off the hot path)."""
    CIRCUIT_STATE.labels(connection=connection).set(_CIRCUIT_VALUES[state])
    if state == "open":
        CIRCUIT_OPENS.labels(connection=connection).inc()


def circuit_states() -> dict[str, str]:
    """Each connection's circuit state by name, as /metrics shows it: over all live workers when multiprocess,
    else this process's. Connections whose circuit never left "closed" are absent."""
    import os

    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.registry import Collector

    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    source: Collector | CollectorRegistry = REGISTRY
    if directory:
        from prometheus_client.multiprocess import MultiProcessCollector

        source = CollectorRegistry()
        MultiProcessCollector(source, path=directory)  # type: ignore[no-untyped-call]  # unannotated in prometheus_client
    states: dict[str, str] = {}
    for family in source.collect():
        if family.name != "mcp_upstream_circuit_state":
            continue
        for sample in family.samples:
            name = sample.labels.get("connection")
            if name is not None:
                states[name] = CIRCUIT_NAMES.get(int(sample.value), "closed")
    return states
