"""The catalogue loader carries the resilience settings from the rows into the specs (issue 15, item 4), and an
endpoint's timeout becomes its calls' deadline."""

from __future__ import annotations

import threading

import pytest

from janus.extensions import db
from janus.gateway.executor import Executor, UpstreamError
from janus.services.catalog_loader import load_snapshot
from tests.support.catalog import add_connection, add_endpoint
from tests.support.upstream import json_response


def test_the_rows_settings_reach_the_tool_specs_and_the_endpoint_timeout_bounds_the_call(sqlite_app, upstream):
    held = []

    def slow(request):
        done = threading.Event()
        held.append(done)
        done.wait(5)  # longer than the endpoint's 0.5 s, far shorter than the connection's 30 s
        return json_response({"late": True})

    upstream.route("/slow", slow)
    conn = add_connection(
        sqlite_app, "Ledger", upstream.url, "led_", retries=2, breaker_threshold=7, breaker_cooldown_seconds=9
    )
    add_endpoint(sqlite_app, conn, "quick", "/slow", timeout_seconds=0.5)
    add_endpoint(sqlite_app, conn, "patient", "/slow")
    with sqlite_app.app_context():
        snapshot = load_snapshot(db.engine)
    quick, patient = snapshot.by_name["led_quick"], snapshot.by_name["led_patient"]
    assert (quick.connection.retries, quick.connection.breaker_threshold) == (2, 7)
    assert quick.connection.breaker_cooldown_seconds == 9.0
    assert (quick.timeout_seconds, patient.timeout_seconds) == (0.5, None)
    assert patient.connection.timeout_seconds == 30.0
    with Executor() as executor:
        with pytest.raises(UpstreamError) as caught:
            executor.execute(quick, {})
        for event in held:
            event.set()
    assert caught.value.kind == "timeout"
    assert str(caught.value) == "Upstream 'Ledger' timed out after 0.5s"
    assert caught.value.attempts == 1  # a read timeout uses up the deadline: no time is left for a retry
