"""The circuit breakers' states for the dashboard and `mcp-cli verify` (upstream resilience, issue 15 item 4).

The breakers live in each worker process's executor (janus/gateway/circuit.py), so no process knows them all;
each publishes its states through the Prometheus gauge `mcp_upstream_circuit_state`. Read here the way /metrics
reads it: over every live worker of this server when PROMETHEUS_MULTIPROC_DIR is set (gunicorn), else this
process's. The worst state of the workers wins: one worker's open circuit shows as open. Replicas each report
their own; a connection is shown open if the answering replica's workers opened it.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def circuit_states() -> dict[str, str]:
    """State by connection name, for connections whose circuit has left "closed" at least once."""
    from janus.gateway.metrics import circuit_states as read

    try:
        return read()
    except Exception:
        log.warning("the circuit breaker states could not be read from the metrics", exc_info=True)
        return {}


def open_circuits() -> list[str] | None:
    """Names of the connections whose circuit is open or half-open, sorted; None when unreadable."""
    try:
        from janus.gateway.metrics import circuit_states as read

        return sorted(name for name, state in read().items() if state != "closed")
    except Exception:  # noqa: BLE001 - as above
        return None
