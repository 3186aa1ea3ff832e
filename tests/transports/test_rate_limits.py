"""Rate limits and the concurrency cap (issue 13, part 5) on a real gunicorn+gevent gateway with two
workers and a real Redis (a database of this module's own, flushed before and after), and over stdio
without Redis (per-process counting).

Every request is counted by the limit it meets: failed authentications per client address (the
address is set with X-Forwarded-For under TRUSTED_PROXY_HOPS=1, so the test's own address is never
blocked; every connection goes to 127.0.0.1), JSON-RPC requests per client token, and tool calls in
flight. Load loops are bounded in count and time.
"""

from __future__ import annotations

import glob
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import select

from janus.extensions import db
from janus.mcp.errors import THROTTLED
from janus.models import ClientToken, ToolCallLog
from tests.support.catalog import add_endpoint, add_token
from tests.support.http_gateway import mcp_headers, start_http_gateway, stop_http_gateway
from tests.support.http_streams import initialize_legacy, open_legacy, post_legacy
from tests.support.stdio import StdioGateway, gateway_env
from tests.support.upstream import json_response
from tests.support.waiting import wait_for

# This module's own Redis database, one per xdist worker (gw0: 13, gw1: 12, …; its tests may run on several
# workers at once): flushed before and after.
REDIS_DB = 13 - int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
SHARED = "rate_shared_token_with_entropy_000001"  # the gateway's default client limit: burst CLIENT_BURST
TIGHT = "rate_tight_token_with_entropy_0000001"  # its own limit: TIGHT_BURST at once
FREE = "rate_free_token_with_entropy_00000001"  # its own limit: none (rate 0)
SLOW = "rate_slow_token_with_entropy_00000001"  # holds the concurrency slots
PROBE = "rate_probe_token_with_entropy_0000001"  # asks for the call past the concurrency cap
CLIENT_RATE, CLIENT_BURST = 1, 12  # a window of 12 requests over 12 s: no refill within a test
TIGHT_BURST = 3
CAP = 2  # MCP_MAX_CONCURRENT_CALLS
IP_RATE, IP_BURST = 6, 4  # failed authentications: 4 over 40 s


def _redis():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        if os.environ.get("CI"):
            raise
        pytest.skip("no Redis on 127.0.0.1:6379")
    return client


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    redis = _redis()
    redis.flushdb()
    gateway = start_http_gateway(
        tmp_path_factory.mktemp("rate-limits"),
        REDIS_URL=REDIS_URL,
        MCP_RATE_PER_CLIENT=str(CLIENT_RATE),
        MCP_BURST_PER_CLIENT=str(CLIENT_BURST),
        RATE_LIMIT_PER_IP=str(IP_RATE),
        RATE_LIMIT_BURST_PER_IP=str(IP_BURST),
        MCP_MAX_CONCURRENT_CALLS=str(CAP),
        TRUSTED_PROXY_HOPS="1",
    )
    gateway.upstream.route("/held", _held)
    add_endpoint(gateway.app, gateway.weather_connection, "held_report", "/held")
    for name, raw in (("Shared", SHARED), ("Tight", TIGHT), ("Free", FREE), ("Slow", SLOW), ("Probe", PROBE)):
        add_token(gateway.app, name, raw, "weather_*")
    with gateway.app.app_context():
        overrides = {"Tight": (1, TIGHT_BURST), "Free": (0, None)}
        for token in db.session.scalars(select(ClientToken).where(ClientToken.name.in_(overrides))):
            token.rate_per_second, token.rate_burst = overrides[token.name]
        db.session.commit()
    # Every token known to both workers; nothing counted yet (authentication failures are, so wait on a
    # 200 from an address of its own: the per-address count of 127.0.0.1 stays at zero).
    wait_for(
        lambda: _rest(gateway, FREE).status_code == 200 and _rest(gateway, FREE).status_code == 200,
        timeout=20,
        what="the tokens on both workers",
    )
    yield gateway
    stop_http_gateway(gateway)
    redis.flushdb()


_HELD = {"arrived": 0, "release": threading.Event(), "lock": threading.Lock()}


def _held(request):
    """A slow upstream: counts the calls that reached it, answers once released (at most 30 s)."""
    with _HELD["lock"]:
        _HELD["arrived"] += 1
    _HELD["release"].wait(30)
    return json_response({"held": "done"})


def _rest(gw, token: str, tool: str = "weather_get_station", address: str | None = None, arguments=None, **extra):
    headers = {"Authorization": f"Bearer {token}", "Connection": "close", **extra}
    if address:
        headers["X-Forwarded-For"] = address
    return requests.post(
        f"{gw.url}/api/tools/{tool}",
        json={"id": "x"} if arguments is None else arguments,
        headers=headers,
        timeout=(5, 35),
    )


def _throttled_rows(gw, token_name: str) -> list[ToolCallLog]:
    with gw.app.app_context():
        return list(
            db.session.scalars(
                select(ToolCallLog).where(ToolCallLog.token_name == token_name, ToolCallLog.status == "throttled")
            )
        )


def test_an_address_over_its_limit_is_refused_before_authentication(gw):
    address = "127.0.0.77"  # X-Forwarded-For only: every connection goes to 127.0.0.1
    with requests.Session() as client:  # one connection: one worker, which learns of the block at once
        headers = {"Authorization": "Bearer not_a_token_value_at_all_000000", "X-Forwarded-For": address}
        statuses = [
            client.post(f"{gw.url}/api/tools/weather_get_station", json={}, headers=headers, timeout=10).status_code
            for _ in range(IP_BURST)
        ]
        assert statuses == [401] * IP_BURST
        refused = client.post(f"{gw.url}/api/tools/weather_get_station", json={}, headers=headers, timeout=10)
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["Retry-After"]) <= IP_BURST * 60 // IP_RATE
        assert "RATE_LIMIT_PER_IP" in refused.json()["message"]
        # Before authentication: even a valid token from that address is refused now, on any transport.
        valid = {"Authorization": f"Bearer {FREE}", "X-Forwarded-For": address}
        again = client.post(f"{gw.url}/api/tools/weather_get_station", json={"id": "x"}, headers=valid, timeout=10)
        assert again.status_code == 429 and "Retry-After" in again.headers
        mcp = client.post(
            f"{gw.url}/mcp",
            headers={**mcp_headers(FREE), "X-Forwarded-For": address},
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            timeout=10,
        )
        assert mcp.status_code == 429 and "Retry-After" in mcp.headers
    # The count is shared: a failed attempt over a fresh connection (either worker) is refused too.
    fresh = requests.post(
        f"{gw.url}/api/tools/weather_get_station",
        json={},
        headers={"Authorization": "Bearer still_not_a_token_value_0000000", "X-Forwarded-For": address},
        timeout=10,
    )
    assert fresh.status_code == 429
    # Other addresses are not affected.
    assert _rest(gw, FREE, address="127.0.0.78").status_code == 200


def _worker_throttles(gw) -> dict[str, float]:
    """Requests each gunicorn worker refused as over a client's limit (its pid's metric file)."""
    from prometheus_client.multiprocess import MultiProcessCollector

    counts: dict[str, float] = {}
    for path in glob.glob(os.path.join(gw.server.env["PROMETHEUS_MULTIPROC_DIR"], "counter_*.db")):
        pid = os.path.basename(path)[len("counter_") : -len(".db")]
        counts[pid] = sum(
            sample.value
            for metric in MultiProcessCollector.merge([path], accumulate=False)
            for sample in metric.samples
            if sample.name == "mcp_throttled_requests_total" and sample.labels.get("tier") == "client"
        )
    return counts


def _ping(gw, token: str) -> requests.Response:
    """A stateless 2026-07-28 tools/list over a fresh connection: a JSON-RPC request that runs no tool call."""
    return requests.post(
        f"{gw.url}/mcp",
        headers=mcp_headers(
            token, **{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list", "Connection": "close"}
        ),
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": _meta()}},
        timeout=10,
    )


def test_the_client_limit_is_shared_by_both_workers(gw):
    """CLIENT_BURST requests pass within the window, whichever worker serves them; every other is 429,
    and both workers refuse some: with per-process counts each would have let its own CLIENT_BURST through."""
    before = _worker_throttles(gw)
    statuses: list[int] = []
    lock = threading.Lock()

    def one(_):
        response = _ping(gw, SHARED)
        with lock:
            statuses.append(response.status_code)
        assert response.status_code == 200 or int(response.headers.get("Retry-After", 0)) >= 1, (
            response.status_code,
            response.text,
        )

    def refused_by_both() -> bool:
        after = _worker_throttles(gw)
        return sum(1 for pid, count in after.items() if count > before.get(pid, 0)) == 2

    with ThreadPoolExecutor(max_workers=8) as pool:  # new connections at once: both workers accept some
        list(pool.map(one, range(3 * CLIENT_BURST)))
        for _ in range(5):  # bounded: at most 5 more rounds, all inside the 12 s window
            if refused_by_both():
                break
            list(pool.map(one, range(2 * CLIENT_BURST)))
    assert statuses.count(200) == CLIENT_BURST, statuses
    assert set(statuses) == {200, 429}, statuses
    assert refused_by_both(), f"both workers must have refused some requests: {before} -> {_worker_throttles(gw)}"
    # A throttled tools/call is audited, with the limit named.
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert _rest(gw, SHARED, traceparent=f"00-{trace}-00f067aa0ba902b7-01").status_code == 429
    rows = wait_for(lambda: _throttled_rows(gw, "Shared"), timeout=10, what="the throttled audit row")
    assert [row.tool_name for row in rows] == ["weather_get_station"]
    assert rows[0].error_message.startswith("throttled (client)")
    assert rows[0].trace_id == trace  # the caller's trace, though the call never ran


def test_the_client_limit_on_mcp_is_429_with_a_json_rpc_error(gw):
    # SHARED used its window up in the test above (12 s, no refill within it); if run alone, use it up here.
    for _ in range(CLIENT_BURST):
        if _rest(gw, SHARED).status_code == 429:
            break
    response = requests.post(
        f"{gw.url}/mcp",
        headers=mcp_headers(SHARED),
        json={"jsonrpc": "2.0", "id": 7, "method": "ping"},
        timeout=10,
    )
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    body = response.json()
    assert body["id"] == 7 and body["error"]["code"] == THROTTLED == -32001
    assert body["error"]["data"]["reason"] == "client"


def test_a_token_override_applies_and_sse_gets_the_json_rpc_error_on_its_stream(gw):
    stream, endpoint = open_legacy(gw.url, TIGHT)  # GET /sse is not a JSON-RPC request: not counted
    try:
        initialize_legacy(gw.url, endpoint, stream, TIGHT)  # 1 (the notification is not counted)
        for request_id in (2, 3):
            call = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call"}
            call["params"] = {"name": "weather_get_station", "arguments": {"id": "a"}}
            assert post_legacy(gw.url, endpoint, call, TIGHT).status_code == 202
            assert stream.next_json(timeout=15)["id"] == request_id
        over = {"jsonrpc": "2.0", "id": 4, "method": "tools/call"}
        over["params"] = {"name": "weather_get_station", "arguments": {"id": "a"}}
        refused = post_legacy(gw.url, endpoint, over, TIGHT)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        answer = stream.next_json(timeout=15)
        assert answer["id"] == 4 and answer["error"]["code"] == THROTTLED
        assert "retry after" in answer["error"]["message"]
    finally:
        stream.close()
    # A token whose own rate is 0 has no limit: more than the default burst all pass.
    assert [_rest(gw, FREE).status_code for _ in range(CLIENT_BURST + 3)] == [200] * (CLIENT_BURST + 3)
    wait_for(lambda: len(_throttled_rows(gw, "Tight")) == 1, timeout=10, what="the throttled SSE call's audit row")


def test_the_call_past_the_concurrency_cap_is_refused(gw):
    with ThreadPoolExecutor(max_workers=CAP) as pool:
        held = [pool.submit(_rest, gw, SLOW, "weather_held_report", None, {}) for _ in range(CAP)]
        try:
            wait_for(lambda: _HELD["arrived"] >= CAP, timeout=15, what=f"{CAP} slow calls in flight")
            refused = _rest(gw, PROBE)
            assert refused.status_code == 429, refused.text
            assert refused.headers["Retry-After"] == "1"
            assert "MCP_MAX_CONCURRENT_CALLS" in refused.json()["message"]
            over_mcp = requests.post(
                f"{gw.url}/mcp",
                headers=mcp_headers(
                    PROBE,
                    **{
                        "MCP-Protocol-Version": "2026-07-28",
                        "Mcp-Method": "tools/call",
                        "Mcp-Name": "weather_get_station",
                    },
                ),
                json={
                    "jsonrpc": "2.0",
                    "id": 9,
                    "method": "tools/call",
                    "params": {"name": "weather_get_station", "arguments": {"id": "b"}, "_meta": _meta()},
                },
                timeout=10,
            )
            assert over_mcp.status_code == 429, over_mcp.text
            assert over_mcp.json()["error"]["code"] == THROTTLED
            assert over_mcp.json()["error"]["data"]["reason"] == "concurrency"
        finally:
            _HELD["release"].set()  # the slow upstream answers; bounded by its own 30 s wait anyway
        assert [f.result().status_code for f in held] == [200] * CAP
    assert _rest(gw, PROBE).status_code == 200  # the slots are free again
    wait_for(lambda: len(_throttled_rows(gw, "Probe")) == 2, timeout=10, what="the refused calls' audit rows")


def _meta() -> dict:
    return {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "tests", "version": "1"},
    }


def test_stdio_without_redis_counts_per_process_and_answers_a_json_rpc_error(tmp_path):
    from tests.conftest import make_app
    from tests.support.catalog import add_connection

    database = str(tmp_path / "stdio.db")
    app = make_app({"DATABASE_PATH": database})
    from janus.services.bootstrap import ensure_schema

    with app.app_context():
        ensure_schema()
    connection = add_connection(app, "Weather", "http://127.0.0.1:9", "weather_")
    add_endpoint(app, connection, "get_station", "/stations/{id}", schema={"type": "object"})
    add_token(app, "Stdio", TIGHT, "weather_*")
    env = gateway_env(database, token=TIGHT, MCP_RATE_PER_CLIENT="1", MCP_BURST_PER_CLIENT="3")
    env.pop("REDIS_URL", None)
    gateway = StdioGateway(env)
    try:
        init = gateway.request(
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
            id=1,
        )
        assert "result" in init
        gateway.send({"jsonrpc": "2.0", "method": "notifications/initialized"})  # not counted
        assert "result" in gateway.request("tools/list", id=2)
        assert "result" in gateway.request("ping", id=3)
        over = gateway.request("tools/call", {"name": "weather_get_station", "arguments": {"id": "1"}}, id=4)
        assert over["id"] == 4 and over["error"]["code"] == THROTTLED
        assert over["error"]["data"]["reason"] == "client" and over["error"]["data"]["retryAfterSeconds"] >= 1
    finally:
        assert gateway.close() == 0
    with app.app_context():
        rows = db.session.scalars(select(ToolCallLog).where(ToolCallLog.status == "throttled")).all()
    assert [(row.tool_name, row.transport) for row in rows] == [("weather_get_station", "stdio")]
    assert all(row.error_message.startswith("throttled (client)") for row in rows)
