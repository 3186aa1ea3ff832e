"""The dashboard shows connections whose circuit breaker is open (janus/services/circuits.py)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from janus.gateway.executor import Executor, UpstreamError
from tests.gateway.conftest import make_tool
from tests.support.catalog import add_connection
from tests.support.waiting import refused_port


def test_an_open_circuit_shows_in_the_activity_panel_and_the_health_table(admin, upstream):
    # The connection's name labels its breaker (one name per test: the in-process registry is shared).
    conn = add_connection(admin.app, "Tripped Service", upstream.url, "tripped_")
    tool = make_tool(f"http://127.0.0.1:{refused_port()}")
    tool = replace(tool, connection=replace(tool.connection, id=conn, name="Tripped Service", breaker_threshold=1))
    with Executor() as executor:
        with pytest.raises(UpstreamError):
            executor.execute(tool, {"id": "1"})  # one failure opens it (threshold 1)
        with pytest.raises(UpstreamError) as caught:
            executor.execute(tool, {"id": "1"})
        assert caught.value.kind == "circuit_open"

        activity = admin.get("/dashboard/activity", htmx=True).get_data(as_text=True)
        assert re.search(r'data-stat="open_circuits">.*<span class="bad">Tripped Service</span>', activity)
        health = admin.get("/dashboard/health", htmx=True).get_data(as_text=True)
        row = health[health.index("<td>Tripped Service</td>") :].split("</tr>")[0]
        assert "OK (HTTP" in row and "Circuit open" in row  # reachable, yet its calls are refused

        # Closed again (as a successful probe closes it): the dashboard says so.
        breaker = executor.circuits.get(conn, "Tripped Service", 1, 30.0)
        breaker.succeeded()
    activity = admin.get("/dashboard/activity", htmx=True).get_data(as_text=True)
    assert "Tripped Service" not in activity
