"""A client's cancellation, end to end: real gunicorn+gevent workers, a real upstream that reports hang-ups.

Each way a client withdraws a call must (1) reach the call on whichever worker (or replica) runs it,
(2) close the upstream connection, (3) send no response for it, and (4) be audited as `cancelled`:
notifications/cancelled on a Streamable HTTP session and on legacy SSE, a session DELETE, the end of
a legacy SSE stream, closing a call's progress stream, and (2026-07-28) closing the connection.
"""

from __future__ import annotations

import json
import socket
import threading

import pytest
import requests
from sqlalchemy import select

from tests.support.catalog import add_connection, add_endpoint, add_token
from tests.support.hanging_upstream import HangingUpstream
from tests.support.http_gateway import (
    ACCEPT_BOTH,
    SseReader,
    initialize,
    mcp_headers,
    start_http_gateway,
    stateless_meta,
    stop_http_gateway,
)
from tests.support.http_streams import wait_listed_everywhere
from tests.support.waiting import wait_for

TOKEN = "hang_token_with_enough_entropy_000001"
TOOLS = ("streamable", "streamable_delete", "sse", "sse_stream_end", "progress_close", "stateless_close")


@pytest.fixture(scope="module")
def hanging():
    upstream = HangingUpstream()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def gw(tmp_path_factory, hanging):
    gateway = start_http_gateway(tmp_path_factory.mktemp("cancel"))
    connection = add_connection(gateway.app, "Hang", hanging.url, "hang_", timeout_seconds=60)
    for name in TOOLS:
        add_endpoint(
            gateway.app,
            connection,
            name,
            f"/{name}/{{{{id}}}}",
            schema={"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
        )
    add_token(gateway.app, "Hang", TOKEN, "hang_*")
    wait_listed_everywhere(
        gateway.url,
        TOKEN,
        lambda names: {f"hang_{t}" for t in TOOLS} <= set(names),
        "every worker to list the hang_ tools",
    )
    yield gateway
    stop_http_gateway(gateway)


def call(request_id, tool: str, key: str, **meta) -> dict:
    params = {"name": f"hang_{tool}", "arguments": {"id": key}}
    if meta:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


def cancelled(request_id) -> dict:
    return {
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": request_id, "reason": "the user pressed stop"},
    }


def audit_row(gw, tool: str, key: str):
    """The audit row of the call of `hang_<tool>` with id argument `key`, once written."""
    from janus.extensions import db
    from janus.gateway.tool_backend import arguments_digest
    from janus.models import ToolCallLog

    digest = arguments_digest({"id": key})

    def row():
        with gw.app.app_context():
            found = db.session.scalars(
                select(ToolCallLog).where(
                    ToolCallLog.tool_name == f"hang_{tool}", ToolCallLog.arguments_digest == digest
                )
            ).all()
            db.session.expunge_all()
            db.session.remove()
        return found

    rows = wait_for(row, what=f"the audit row of hang_{tool} {key}")
    assert len(rows) == 1
    return rows[0]


def assert_cancelled(gw, hanging, tool: str, key: str) -> None:
    hanging.wait_hung_up(f"/{tool}/{key}")  # the upstream saw its connection closed
    row = audit_row(gw, tool, key)
    assert row.status == "cancelled", (row.status, row.error_message)
    assert row.error_message.startswith("cancelled by the client before the upstream answered")
    assert f"/{tool}/{key}" not in hanging.answered


class Post:
    """One POST on its own thread (a call that blocks until its answer or cancellation)."""

    def __init__(self, url: str, headers: dict, body: dict) -> None:
        self.response: requests.Response | None = None
        self._thread = threading.Thread(target=self._run, args=(url, headers, body), daemon=True)
        self._thread.start()

    def _run(self, url, headers, body):
        self.response = requests.post(url, headers=headers, json=body, timeout=60)

    def join(self) -> requests.Response:
        self._thread.join(30)
        assert self.response is not None, "the POST did not end"
        return self.response


# -- Streamable HTTP, handshake era ------------------------------------------------------------


@pytest.mark.parametrize("round", [1, 2, 3])  # new connections each time: the cancel often lands on the other worker
def test_notifications_cancelled_on_a_session_stops_the_call_wherever_it_runs(gw, hanging, round):
    session = initialize(gw.url, TOKEN)
    headers = mcp_headers(TOKEN, **{"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"})
    key = f"round{round}"
    post = Post(gw.url + "/mcp", headers, call(f"c{round}", "streamable", key))
    hanging.wait_arrived(f"/streamable/{key}")
    with requests.Session() as fresh:  # its own connection
        assert fresh.post(gw.url + "/mcp", headers=headers, json=cancelled(f"c{round}"), timeout=10).status_code == 202
    answer = post.join()
    assert answer.status_code == 202 and answer.content == b""  # no JSON-RPC response for a cancelled request
    assert_cancelled(gw, hanging, "streamable", key)
    # The session carries on.
    listed = requests.post(
        gw.url + "/mcp", headers=headers, timeout=10, json={"jsonrpc": "2.0", "id": "after", "method": "tools/list"}
    )
    assert listed.status_code == 200 and listed.json()["id"] == "after"


def test_deleting_a_session_cancels_its_calls_in_flight(gw, hanging):
    session = initialize(gw.url, TOKEN)
    headers = mcp_headers(TOKEN, **{"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"})
    post = Post(gw.url + "/mcp", headers, call(1, "streamable_delete", "d1"))
    hanging.wait_arrived("/streamable_delete/d1")
    assert requests.delete(gw.url + "/mcp", headers=headers, timeout=30).status_code == 204
    assert post.join().content == b""
    assert_cancelled(gw, hanging, "streamable_delete", "d1")


def test_closing_the_progress_stream_of_a_call_cancels_it(gw, hanging):
    session = initialize(gw.url, TOKEN)
    headers = mcp_headers(TOKEN, **{"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"})
    response = requests.post(
        gw.url + "/mcp",
        headers=headers,
        stream=True,
        timeout=30,
        json=call(1, "progress_close", "p1", progressToken="tok"),
    )
    reader = SseReader(response)
    assert json.loads(reader.next()[1])["method"] == "notifications/progress"
    hanging.wait_arrived("/progress_close/p1")
    reader.close()
    assert_cancelled(gw, hanging, "progress_close", "p1")


# -- Streamable HTTP, 2026-07-28 ---------------------------------------------------------------


def test_closing_the_connection_of_a_2026_call_cancels_it(gw, hanging):
    body = json.dumps(call(1, "stateless_close", "s1", **stateless_meta())).encode()
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{gw.server.port}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Accept: {ACCEPT_BOTH}\r\nContent-Type: application/json\r\nMCP-Protocol-Version: 2026-07-28\r\n"
        f"Mcp-Method: tools/call\r\nMcp-Name: hang_stateless_close\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", gw.server.port), timeout=10) as client:
        client.sendall(head.encode() + body)
        hanging.wait_arrived("/stateless_close/s1")
    # The connection is closed with no answer read: the 2026-07-28 way to cancel.
    assert_cancelled(gw, hanging, "stateless_close", "s1")


# -- legacy HTTP+SSE -----------------------------------------------------------------------------


def _open_sse(gw) -> tuple[SseReader, str]:
    reader = SseReader(
        requests.get(gw.url + "/sse", headers={"Authorization": f"Bearer {TOKEN}"}, stream=True, timeout=30)
    )
    event, endpoint = reader.next()
    assert event == "endpoint"
    post_url = gw.url + endpoint
    _sse_post(
        post_url,
        {
            "jsonrpc": "2.0",
            "id": "init",
            "method": "initialize",
            "params": {
                "protocolVersion": "2024-11-05",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
    )
    assert json.loads(reader.next()[1])["id"] == "init"
    _sse_post(post_url, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    return reader, post_url


def _sse_post(url: str, body: dict) -> None:
    with requests.Session() as fresh:  # a new connection each time: any worker may serve it
        assert fresh.post(url, headers={"Authorization": f"Bearer {TOKEN}"}, json=body, timeout=10).status_code == 202


def test_notifications_cancelled_on_legacy_sse_stops_the_call_and_no_answer_follows(gw, hanging):
    reader, post_url = _open_sse(gw)
    try:
        _sse_post(post_url, call(5, "sse", "e1"))
        hanging.wait_arrived("/sse/e1")
        _sse_post(post_url, cancelled(5))
        assert_cancelled(gw, hanging, "sse", "e1")
        # The next answer on the stream is the ping's: nothing was ever sent for request 5.
        _sse_post(post_url, {"jsonrpc": "2.0", "id": 6, "method": "ping"})
        assert json.loads(reader.next()[1]) == {"jsonrpc": "2.0", "id": 6, "result": {}}
    finally:
        reader.close()


def test_the_end_of_a_legacy_sse_stream_cancels_its_calls(gw, hanging):
    reader, post_url = _open_sse(gw)
    _sse_post(post_url, call(7, "sse_stream_end", "x1"))
    hanging.wait_arrived("/sse_stream_end/x1")
    reader.close()
    assert_cancelled(gw, hanging, "sse_stream_end", "x1")


# -- replicas on PostgreSQL ------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_cancellation_sent_to_one_replica_stops_the_call_on_another(tmp_path, pg_schema, hanging):
    """Two gateways (separate gunicorn masters) sharing PostgreSQL: the call runs on A, the client's
    notifications/cancelled and later its DELETE go to B; LISTEN/NOTIFY carries both across."""
    from sqlalchemy import create_engine, text

    from tests.conftest import _pg_engine_url
    from tests.support.server import GatewayServer

    schema = pg_schema + "_cancel"
    engine = create_engine(_pg_engine_url())
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    database = {"SQLALCHEMY_DATABASE_URI": _pg_engine_url(schema)}
    a = start_http_gateway(tmp_path, database=database)
    b = None
    try:
        connection = add_connection(a.app, "Hang", hanging.url, "hang_", timeout_seconds=60)
        add_endpoint(
            a.app,
            connection,
            "replicas",
            "/replicas/{{id}}",
            schema={"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
        )
        add_token(a.app, "Hang", TOKEN, "hang_*")
        b = GatewayServer(
            str(tmp_path / "unused.db"),
            DATABASE_URL=database["SQLALCHEMY_DATABASE_URI"],
            WEB_CONCURRENCY="2",
            CATALOG_REFRESH_SECONDS="0.2",
        ).start()
        for url in (a.url, b.url):
            wait_listed_everywhere(url, TOKEN, lambda names: "hang_replicas" in names, "the replicas to list the tool")
        session = initialize(a.url, TOKEN)
        headers = mcp_headers(TOKEN, **{"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"})
        for key, how in (("r1", "notification"), ("r2", "delete")):
            post = Post(a.url + "/mcp", headers, call(key, "replicas", key))
            hanging.wait_arrived(f"/replicas/{key}")
            if how == "notification":
                assert (
                    requests.post(b.url + "/mcp", headers=headers, json=cancelled(key), timeout=10).status_code == 202
                )
            else:
                assert requests.delete(b.url + "/mcp", headers=headers, timeout=30).status_code == 204
            assert post.join().content == b""
            assert_cancelled(a, hanging, "replicas", key)
    finally:
        if b is not None:
            b.stop()
        stop_http_gateway(a)
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
