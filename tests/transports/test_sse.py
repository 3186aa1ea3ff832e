"""The legacy HTTP+SSE transport on a real gunicorn+gevent gateway with two workers."""

from __future__ import annotations

import json
import signal
import time

import anyio
import pytest
import requests
from mcp import Client
from mcp.client.sse import sse_client
from mcp.shared.exceptions import MCPError
from sqlalchemy import select

from janus.extensions import db
from janus.models import McpSession, ToolCallLog
from tests.support.catalog import add_endpoint
from tests.support.http_gateway import (
    BILLING,
    WEATHER,
    SseReader,
    audit_rows_for,
    initialize,
    mcp_headers,
    start_http_gateway,
    stateless_meta,
    stop_http_gateway,
)
from tests.support.http_streams import RawStream, initialize_legacy, open_legacy, post_legacy
from tests.support.server import GatewayServer
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    gateway = start_http_gateway(tmp_path_factory.mktemp("sse"))
    yield gateway
    stop_http_gateway(gateway)


def _open(gw, token=WEATHER) -> tuple[SseReader, str]:
    response = requests.get(gw.url + "/sse", headers={"Authorization": f"Bearer {token}"}, stream=True, timeout=30)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    reader = SseReader(response)
    event, data = reader.next()
    assert event == "endpoint" and data.startswith("/messages?sessionId=")
    return reader, data


def _send(gw, endpoint, message, token=WEATHER, close=True):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if close:
        headers["Connection"] = "close"  # a new connection each time: any worker may take it
    return requests.post(gw.url + endpoint, headers=headers, data=json.dumps(message), timeout=15)


def _initialize(gw, endpoint, reader):
    assert (
        _send(
            gw,
            endpoint,
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2024-11-05",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"},
                },
            },
        ).status_code
        == 202
    )
    init = json.loads(reader.next()[1])
    assert init["result"]["protocolVersion"] == "2024-11-05"
    assert _send(gw, endpoint, {"jsonrpc": "2.0", "method": "notifications/initialized"}).status_code == 202


def test_responses_reach_the_stream_whichever_worker_takes_the_post(gw):
    reader, endpoint = _open(gw)
    _initialize(gw, endpoint, reader)
    # POST→event latency is bench/http_benchmark.py's `janus-sse` target; here only that every answer arrives.
    for i in range(40):
        assert (
            _send(
                gw,
                endpoint,
                {
                    "jsonrpc": "2.0",
                    "id": i + 1,
                    "method": "tools/call",
                    "params": {"name": "weather_get_station", "arguments": {"id": f"s{i}"}},
                },
            ).status_code
            == 202
        )
        message = json.loads(reader.next()[1])
        assert message["id"] == i + 1
        assert message["result"]["structuredContent"]["path"] == f"/stations/s{i}"
    reader.close()


def test_unknown_foreign_and_missing_sessions(gw):
    reader, endpoint = _open(gw)
    assert _send(gw, "/messages?sessionId=nope", {"jsonrpc": "2.0", "id": 1, "method": "ping"}).status_code == 404
    foreign = _send(gw, endpoint, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, BILLING)
    assert foreign.status_code == 404 and foreign.text == "Session not found"
    assert _send(gw, "/messages", {"jsonrpc": "2.0", "id": 1, "method": "ping"}).status_code == 400
    no_token = requests.post(gw.url + endpoint, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, timeout=10)
    assert no_token.status_code == 401
    assert requests.get(gw.url + "/sse", timeout=10).status_code == 401
    reader.close()


def test_keep_alives_flow_and_a_disconnect_ends_the_session(gw):
    reader, endpoint = _open(gw)
    session_id = endpoint.split("=", 1)[1]
    wait_for(lambda: reader.comments >= 2, timeout=10, what="keep-alive comments")  # every 0.5 s here
    reader.close()

    def ended():
        with gw.app.app_context():
            return db.session.scalar(select(McpSession.ended_at).where(McpSession.id == session_id)) is not None

    wait_for(ended, timeout=10, what="the session to end after the client left")
    assert _send(gw, endpoint, {"jsonrpc": "2.0", "id": 1, "method": "ping"}).status_code == 404


def test_list_changed_reaches_an_open_sse_stream(gw):
    reader, endpoint = _open(gw)
    _initialize(gw, endpoint, reader)
    add_endpoint(gw.app, gw.weather_connection, "get_tides", "/tides")
    event, data = reader.next(timeout=10)
    assert event == "message" and json.loads(data)["method"] == "notifications/tools/list_changed"
    reader.close()


def test_a_slow_call_does_not_hold_back_the_next_message(gw):
    reader, endpoint = _open(gw)
    _initialize(gw, endpoint, reader)
    gw.release.clear()
    try:
        started = time.perf_counter()
        assert (
            _send(
                gw,
                endpoint,
                {
                    "jsonrpc": "2.0",
                    "id": "slow",
                    "method": "tools/call",
                    "params": {"name": "weather_slow_report", "arguments": {}},
                },
            ).status_code
            == 202
        )
        assert time.perf_counter() - started < 5  # 202 at once, not after the upstream answers
        assert _send(gw, endpoint, {"jsonrpc": "2.0", "id": "ping", "method": "ping"}).status_code == 202
        assert json.loads(reader.next()[1])["id"] == "ping"
    finally:
        gw.release.set()
    assert json.loads(reader.next()[1])["id"] == "slow"
    reader.close()


def test_the_sdk_sse_client_lists_and_calls(gw):
    async def main():
        transport = sse_client(gw.url + "/sse", headers={"Authorization": f"Bearer {WEATHER}"})
        async with Client(transport, mode="legacy") as client:
            listed = await client.list_tools()
            result = await client.call_tool("weather_get_forecast", {"latitude": 3, "longitude": 4})
            return client.protocol_version, listed, result

    version, listed, result = anyio.run(main)
    assert version == "2025-11-25"
    assert "weather_get_forecast" in [t.name for t in listed.tools]
    assert result.structured_content["args"] == {"latitude": ["3"], "longitude": ["4"]}


def _sdk_sse(url: str, token: str | None, body):
    async def main():
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with Client(sse_client(url + "/sse", headers=headers), mode="legacy") as client:
            return await body(client)

    return anyio.run(main)


def _leaves(exc: BaseException) -> list[BaseException]:
    """The SDK raises from inside task groups: the cause may sit in (nested) exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def test_the_sdk_sse_client_without_a_token_fails_with_the_401(gw):
    async def list_only(client):
        return await client.list_tools()

    with pytest.raises(BaseException) as excinfo:
        _sdk_sse(gw.url, None, list_only)
    statuses = [getattr(getattr(leaf, "response", None), "status_code", None) for leaf in _leaves(excinfo.value)]
    assert 401 in statuses, repr(excinfo.value)


def test_the_sdk_sse_client_gets_method_not_found_for_a_tool_outside_its_scopes(gw):
    async def body(client):
        try:
            await client.call_tool("billing_get_invoice", {"id": "1"})
        except MCPError as error:
            return error.error.code, await client.call_tool("weather_get_station", {"id": "after"})
        raise AssertionError("an out-of-scope call succeeded")

    code, after = _sdk_sse(gw.url, WEATHER, body)
    assert code == -32601
    assert after.structured_content["path"] == "/stations/after"  # the session carries on


def test_the_sdk_sse_client_works_again_after_a_gateway_restart(tmp_path):
    async def call(client):
        return await client.call_tool("weather_get_station", {"id": "restart"})

    gateway = start_http_gateway(tmp_path)
    try:
        assert _sdk_sse(gateway.url, WEATHER, call).structured_content["path"] == "/stations/restart"
        gateway.server.stop()
        gateway.server = GatewayServer(
            gateway.server.env["DATABASE_PATH"],
            PORT=str(gateway.server.port),
            **{k: v for k, v in gateway.server.env.items() if k in ("WEB_CONCURRENCY", "SSE_KEEPALIVE_SECONDS")},
        ).start()
        assert _sdk_sse(gateway.url, WEATHER, call).structured_content["path"] == "/stations/restart"
    finally:
        stop_http_gateway(gateway)


GRACEFUL_TIMEOUT = 60  # gunicorn cuts what is still open after this; a clean end comes long before


def test_sigterm_ends_every_stream_cleanly_long_before_the_graceful_timeout_and_keeps_every_audit_row(tmp_path):
    gateway = start_http_gateway(tmp_path, GUNICORN_CMD_ARGS=f"--graceful-timeout {GRACEFUL_TIMEOUT}")
    try:
        legacy, endpoint = open_legacy(gateway.url, WEATHER)
        initialize_legacy(gateway.url, endpoint, legacy, WEATHER)
        for i in range(20):
            assert (
                post_legacy(
                    gateway.url,
                    endpoint,
                    {
                        "jsonrpc": "2.0",
                        "id": i + 1,
                        "method": "tools/call",
                        "params": {"name": "weather_get_station", "arguments": {"id": str(i)}},
                    },
                    WEATHER,
                ).status_code
                == 202
            )
        assert sorted(legacy.next_json()["id"] for _ in range(20)) == list(range(1, 21))
        session_id = initialize(gateway.url)
        standalone = RawStream(
            gateway.url,
            "GET",
            "/mcp",
            mcp_headers(**{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}),
        )
        listen = RawStream(
            gateway.url,
            "POST",
            "/mcp",
            mcp_headers(**{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "subscriptions/listen"}),
            body=json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": "sub",
                    "method": "subscriptions/listen",
                    "params": {"notifications": {"toolsListChanged": True}, "_meta": stateless_meta()},
                }
            ),
        )
        wait_for(lambda: standalone.comments >= 1, what="the GET /mcp stream to open")
        assert listen.next_json()["method"] == "notifications/subscriptions/acknowledged"
        # Three calls still waiting for the upstream when the signal comes.
        gateway.release.clear()
        for i in range(3):
            assert (
                post_legacy(
                    gateway.url,
                    endpoint,
                    {
                        "jsonrpc": "2.0",
                        "id": f"slow-{i}",
                        "method": "tools/call",
                        "params": {"name": "weather_slow_report", "arguments": {}},
                    },
                    WEATHER,
                ).status_code
                == 202
            )
        wait_for(lambda: sum(s.path == "/slow" for s in gateway.upstream.seen) == 3, what="three calls in flight")

        gateway.server.proc.send_signal(signal.SIGTERM)
        for name, stream in {"GET /sse": legacy, "GET /mcp": standalone, "subscriptions/listen": listen}.items():
            assert stream.closed.wait(GRACEFUL_TIMEOUT / 4), f"{name} was still open 15 s after SIGTERM"
            assert stream.clean_end, f"{name} was cut, not ended (no last chunk)"
        # A listen stream ends with its request's result, not just a closed connection.
        assert [json.loads(data) for _, data in listen.pending()] == [
            {
                "jsonrpc": "2.0",
                "id": "sub",
                "result": {"resultType": "complete", "_meta": {"io.modelcontextprotocol/subscriptionId": "sub"}},
            }
        ]
        # Only once both workers have left gunicorn's loop does the upstream answer the calls in flight.
        wait_for(lambda: gateway.server.log.count("Worker exiting") == 2, timeout=30, what="both workers to exit")
        gateway.release.set()
        assert gateway.server.proc.wait(30) == 0
    finally:
        stop_http_gateway(gateway)
    with gateway.app.app_context():
        rows = db.session.scalars(select(ToolCallLog).where(ToolCallLog.transport == "sse")).all()
    assert {r.token_name for r in rows} == {"Weather Team Token"}
    assert sorted(r.tool_name for r in rows) == ["weather_get_station"] * 20 + ["weather_slow_report"] * 3
    assert all(r.status == "success" for r in rows)


@pytest.mark.postgres
def test_sse_delivery_across_workers_on_postgresql(tmp_path, pg_schema):
    from sqlalchemy import create_engine, text

    from tests.conftest import _pg_engine_url

    schema = pg_schema + "_sse"
    engine = create_engine(_pg_engine_url())
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    gateway = start_http_gateway(tmp_path, database={"SQLALCHEMY_DATABASE_URI": _pg_engine_url(schema)})
    try:
        reader, endpoint = _open(gateway)
        _initialize(gateway, endpoint, reader)
        for i in range(30):
            assert (
                _send(
                    gateway,
                    endpoint,
                    {
                        "jsonrpc": "2.0",
                        "id": i + 1,
                        "method": "tools/call",
                        "params": {"name": "weather_get_station", "arguments": {"id": f"pg{i}"}},
                    },
                ).status_code
                == 202
            )
            message = json.loads(reader.next()[1])
            assert message["id"] == i + 1 and message["result"]["structuredContent"]["path"] == f"/stations/pg{i}"
        reader.close()
    finally:
        stop_http_gateway(gateway)
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def test_a_lone_surrogate_in_a_message_gets_an_error_event_and_an_audit_row(gw):
    reader, endpoint = _open(gw)
    try:
        _initialize(gw, endpoint, reader)
        seen_before = len(gw.upstream.seen)
        for message in (
            {
                "jsonrpc": "2.0",
                "id": 51,
                "method": "tools/call",
                "params": {"name": "weather_get_station", "arguments": {"id": "\udfff"}},
            },
            {"jsonrpc": "2.0", "id": 52, "method": "tools/call", "params": {"name": "\ud800weather", "arguments": {}}},
            {"jsonrpc": "2.0", "id": "\ud800", "method": "ping"},
        ):
            assert _send(gw, endpoint, message).status_code == 202
        answers = [json.loads(reader.next()[1]) for _ in range(3)]
    finally:
        reader.close()
    by_id = {answer["id"]: answer for answer in answers}
    assert by_id[51]["error"]["code"] == -32602 and "surrogate" in by_id[51]["error"]["message"]
    assert by_id[52]["error"]["code"] == -32602
    assert by_id["\ud800"]["result"] == {}  # an unencodable id comes back as the JSON escape it was sent as
    assert len(gw.upstream.seen) == seen_before
    rows = audit_rows_for(gw, "sse", "surrogate", 2)
    assert sorted((r.tool_name, r.status) for r in rows) == [
        ("weather_get_station", "failure"),
        ("\ufffdweather", "failure"),
    ]
    assert "Traceback" not in gw.server.log


def _discover_on_sse(gw, reader, endpoint) -> dict:
    assert (
        _send(
            gw,
            endpoint,
            {"jsonrpc": "2.0", "id": "discover", "method": "server/discover", "params": {"_meta": stateless_meta()}},
        ).status_code
        == 202
    )
    answer = json.loads(reader.next()[1])
    assert answer["id"] == "discover", answer
    return answer["result"]


def test_each_transport_advertises_list_changed_to_the_2026_era_only_where_it_serves_subscriptions_listen(gw):
    on_mcp = requests.post(
        gw.url + "/mcp",
        headers=mcp_headers(**{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "server/discover"}),
        timeout=10,
        json={"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": stateless_meta()}},
    )
    assert on_mcp.status_code == 200 and on_mcp.json()["result"]["capabilities"] == {"tools": {"listChanged": True}}
    reader, endpoint = _open(gw)
    try:
        discovered = _discover_on_sse(gw, reader, endpoint)
        # /sse offers no listChanged to 2026-07-28 clients: that era hears of changes only on a
        # subscriptions/listen stream, which /sse does not serve.
        assert discovered["capabilities"] == {"tools": {}}
        assert (
            _send(
                gw,
                endpoint,
                {
                    "jsonrpc": "2.0",
                    "id": "listen",
                    "method": "subscriptions/listen",
                    "params": {"notifications": {"toolsListChanged": True}, "_meta": stateless_meta()},
                },
            ).status_code
            == 202
        )
        assert json.loads(reader.next()[1])["error"]["code"] == -32601
        # What it does advertise works there: a 2026-07-28 tools/call.
        assert "2026-07-28" in discovered["supportedVersions"]
        assert (
            _send(
                gw,
                endpoint,
                {
                    "jsonrpc": "2.0",
                    "id": "call",
                    "method": "tools/call",
                    "params": {"name": "weather_get_station", "arguments": {"id": "era"}, "_meta": stateless_meta()},
                },
            ).status_code
            == 202
        )
        answer = json.loads(reader.next()[1])
        assert answer["id"] == "call" and answer["result"]["structuredContent"]["path"] == "/stations/era"
        # The handshake era on /sse still advertises listChanged: its stream carries list_changed.
        assert (
            _send(
                gw,
                endpoint,
                {
                    "jsonrpc": "2.0",
                    "id": 0,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": "2024-11-05",
                        "capabilities": {},
                        "clientInfo": {"name": "t", "version": "1"},
                    },
                },
            ).status_code
            == 202
        )
        assert json.loads(reader.next()[1])["result"]["capabilities"] == {"tools": {"listChanged": True}}
    finally:
        reader.close()


def test_a_slow_call_with_a_progress_token_gets_progress_on_the_stream_until_its_result_comes_last(gw):
    reader, endpoint = _open(gw)
    try:
        _initialize(gw, endpoint, reader)
        gw.release.clear()
        try:
            assert (
                _send(
                    gw,
                    endpoint,
                    {
                        "jsonrpc": "2.0",
                        "id": "slow",
                        "method": "tools/call",
                        "params": {"name": "weather_slow_report", "arguments": {}, "_meta": {"progressToken": "tok"}},
                    },
                ).status_code
                == 202
            )
            notes = []
            while len(notes) < 3:  # "Calling", then two ticks of PROGRESS_INTERVAL_SECONDS (0.3 s here)
                message = json.loads(reader.next()[1])
                assert message["method"] == "notifications/progress", message  # no result while it waits
                notes.append(message["params"])
        finally:
            gw.release.set()
        rest = [json.loads(reader.next()[1])]
        while "id" not in rest[-1]:
            rest.append(json.loads(reader.next()[1]))
    finally:
        reader.close()
    *more, final, result = rest
    notes += [message["params"] for message in more]
    assert all(note["progressToken"] == "tok" for note in notes + [final["params"]])
    assert [note["progress"] for note in notes] == list(range(len(notes)))  # increasing, one per interval
    assert notes[0]["message"] == "Calling weather_slow_report"
    assert final["params"]["progress"] == final["params"]["total"] == len(notes)
    assert result["id"] == "slow" and result["result"]["structuredContent"] == {"slow": "done"}


def test_a_call_without_a_progress_token_gets_only_its_result(gw):
    reader, endpoint = _open(gw)
    try:
        _initialize(gw, endpoint, reader)
        assert (
            _send(
                gw,
                endpoint,
                {
                    "jsonrpc": "2.0",
                    "id": "plain",
                    "method": "tools/call",
                    "params": {"name": "weather_get_station", "arguments": {"id": "p"}},
                },
            ).status_code
            == 202
        )
        assert json.loads(reader.next()[1])["id"] == "plain"
    finally:
        reader.close()
