"""Bounded load on a real gunicorn+gevent gateway with two workers: idle streams by the hundred
do not starve other work, and /metrics answers while calls are in flight. Functional assertions
with generous deadlines; no latency thresholds."""

from __future__ import annotations

import json
import re
import resource
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select

from janus.extensions import db
from janus.models import McpSession
from tests.support.http_gateway import (
    METRICS_AUTH,
    WEATHER,
    initialize,
    mcp_headers,
    start_http_gateway,
    stop_http_gateway,
)
from tests.support.http_streams import RawStream, initialize_legacy, open_legacy, post_legacy
from tests.support.waiting import wait_for

IDLE_STREAMS = 200


def _enough_file_descriptors(needed: int) -> None:
    """This process holds a socket per stream and the gateway (which inherits the limit) another."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {needed}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    _enough_file_descriptors(4 * IDLE_STREAMS + 512)
    # Capacity, not policy: one token from one address holds all these streams, so the per-token stream
    # cap and the per-address connection cap are off here (tests/transports/test_sse_limits.py and
    # test_slow_clients.py cover those).
    gateway = start_http_gateway(
        tmp_path_factory.mktemp("load"), SSE_MAX_STREAMS_PER_TOKEN="0", MAX_CONNECTIONS_PER_CLIENT="0"
    )
    yield gateway
    stop_http_gateway(gateway)


def _call(gw, session_id: str, name: str, arguments: dict, id: int) -> dict:
    response = requests.post(
        gw.url + "/mcp",
        timeout=60,
        data=json.dumps(
            {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
        ),
        headers=mcp_headers(**{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}),
    )
    assert response.status_code == 200, response.text
    return response.json()


def _ended(gw, session_ids: list[str]) -> int:
    with gw.app.app_context():
        return db.session.scalar(
            select(func.count())
            .select_from(McpSession)
            .where(McpSession.id.in_(session_ids), McpSession.ended_at.is_not(None))
        )


def test_hundreds_of_idle_sse_streams_do_not_starve_other_work(gw):
    idle: list[tuple[RawStream, str]] = []
    try:
        for _ in range(IDLE_STREAMS):
            idle.append(open_legacy(gw.url, WEATHER))
        # Every idle stream is served: each gets its keep-alives (every 0.5 s here).
        wait_for(
            lambda: all(stream.comments >= 1 for stream, _ in idle),
            timeout=30,
            what="a keep-alive on every idle stream",
        )

        # Streamable HTTP still answers a tools/call ...
        session_id = initialize(gw.url)
        called = _call(gw, session_id, "weather_get_station", {"id": "busy"}, id=2)
        assert called["result"]["structuredContent"]["path"] == "/stations/busy"
        # ... and a legacy session of its own still gets its round trip.
        other, endpoint = open_legacy(gw.url, WEATHER)
        try:
            initialize_legacy(gw.url, endpoint, other, WEATHER)
            assert (
                post_legacy(
                    gw.url,
                    endpoint,
                    {
                        "jsonrpc": "2.0",
                        "id": 3,
                        "method": "tools/call",
                        "params": {"name": "weather_get_station", "arguments": {"id": "legacy"}},
                    },
                    WEATHER,
                ).status_code
                == 202
            )
            answer = other.next_json(timeout=30)
            assert answer["id"] == 3 and answer["result"]["structuredContent"]["path"] == "/stations/legacy"
        finally:
            other.close()
        assert not any(stream.closed.is_set() for stream, _ in idle)  # none was dropped meanwhile
    finally:
        for stream, _ in idle:
            stream.close()

    # Closing them ends their sessions (each stream notices at its next keep-alive write).
    session_ids = [endpoint.split("=", 1)[1] for _, endpoint in idle]
    wait_for(
        lambda: _ended(gw, session_ids) == IDLE_STREAMS,
        timeout=30,
        interval=0.2,
        what="every closed stream's session to end",
    )
    assert post_legacy(gw.url, idle[0][1], {"jsonrpc": "2.0", "id": 4, "method": "ping"}, WEATHER).status_code == 404


def _tool_calls(metrics_text: str, tool: str) -> float:
    pattern = re.compile(r"^mcp_tool_execution_count_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
    total = 0.0
    for line in metrics_text.splitlines():
        match = pattern.match(line)
        if match and f'tool_name="{tool}"' in match["labels"] and 'status="success"' in match["labels"]:
            total += float(match["value"])
    return total


def _metrics(gw) -> str:
    response = requests.get(gw.url + "/metrics", headers=METRICS_AUTH, timeout=30)
    assert response.status_code == 200
    return response.text


def test_metrics_are_served_during_a_load_and_count_its_calls(gw):
    before = _metrics(gw)
    session_id = initialize(gw.url)
    gw.release.clear()
    try:
        with ThreadPoolExecutor(12) as pool:
            slow = [pool.submit(_call, gw, session_id, "weather_slow_report", {}, 1000 + i) for i in range(4)]
            wait_for(
                lambda: sum(s.path == "/slow" for s in gw.upstream.seen) >= 4,
                timeout=30,
                what="four calls hanging upstream",
            )
            fast = [pool.submit(_call, gw, session_id, "weather_get_station", {"id": f"m{i}"}, i) for i in range(80)]
            wait_for(lambda: sum(f.done() for f in fast) >= 10, timeout=30, what="some calls to complete")
            completed = sum(f.done() for f in fast)
            during = _metrics(gw)
            still_hanging = not any(f.done() for f in slow)
            gw.release.set()
            answers = [f.result() for f in slow + fast]
    finally:
        gw.release.set()
    assert still_hanging  # the load was on while /metrics answered
    assert all("result" in a and a["result"]["isError"] is False for a in answers)
    assert _tool_calls(during, "weather_get_station") >= _tool_calls(before, "weather_get_station") + completed
    assert _tool_calls(during, "weather_slow_report") == _tool_calls(before, "weather_slow_report")  # in flight
    after = _metrics(gw)
    assert _tool_calls(after, "weather_get_station") == _tool_calls(before, "weather_get_station") + len(fast)
    assert _tool_calls(after, "weather_slow_report") == _tool_calls(before, "weather_slow_report") + len(slow)
