"""Graceful shutdown on a real gunicorn+gevent gateway with two workers: calls in flight are finished
and audited, streams opened while it runs are refused, and sessions whose stream is gone answer 404."""

from __future__ import annotations

import json
import os
import signal
import socket

import pytest
from sqlalchemy import select

from janus.extensions import db
from janus.models import McpSession, ToolCallLog
from tests.support.http_gateway import WEATHER, initialize, mcp_headers, start_http_gateway, stop_http_gateway
from tests.support.http_streams import RawStream, initialize_legacy, open_legacy, post_legacy
from tests.support.server import GatewayServer
from tests.support.waiting import wait_for

GRACEFUL_TIMEOUT = 60  # gunicorn cuts what is still open after this; the tests end long before


def _audit_rows(gateway, transport: str) -> list:
    with gateway.app.app_context():
        rows = db.session.scalars(select(ToolCallLog).where(ToolCallLog.transport == transport)).all()
        db.session.expunge_all()
        db.session.remove()
    return rows


def _streamed_calls_audited(gateway) -> list[tuple]:
    return [(r.tool_name, r.status, r.token_name) for r in _audit_rows(gateway, "streamable_http")]


def _slow_streamed_call(gateway) -> RawStream:
    """A tools/call with progress on a handshake session, waiting at the upstream (held by gateway.release)."""
    session_id = initialize(gateway.url)
    gateway.release.clear()
    call = RawStream(
        gateway.url,
        "POST",
        "/mcp",
        mcp_headers(**{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}),
        body=json.dumps(
            {
                "jsonrpc": "2.0",
                "id": "slow",
                "method": "tools/call",
                "params": {"name": "weather_slow_report", "arguments": {}, "_meta": {"progressToken": "p"}},
            }
        ),
    )
    assert call.next_json()["method"] == "notifications/progress"
    wait_for(lambda: any(s.path == "/slow" for s in gateway.upstream.seen), what="the call to reach the upstream")
    return call


def test_a_streamed_call_in_flight_at_sigterm_reaches_its_upstream_answer_and_is_audited(tmp_path):
    gateway = start_http_gateway(tmp_path, GUNICORN_CMD_ARGS=f"--graceful-timeout {GRACEFUL_TIMEOUT}")
    try:
        call = _slow_streamed_call(gateway)
        gateway.server.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: "Handling signal: term" in gateway.server.log, what="gunicorn to begin its shutdown")
        gateway.release.set()  # the upstream answers while the worker drains
        while (message := call.next_json()).get("method") == "notifications/progress":
            pass
        assert message["id"] == "slow" and message["result"]["structuredContent"] == {"slow": "done"}
        assert gateway.server.proc.wait(30) == 0
    finally:
        stop_http_gateway(gateway)
    assert _streamed_calls_audited(gateway) == [("weather_slow_report", "success", "Weather Team Token")]


def test_a_streamed_call_whose_client_gave_up_before_sigterm_is_cancelled_and_audited(tmp_path):
    """Closing the progress stream cancels the call (issue 11, 2.1): the worker leaves at once, and the
    attempt is still on record."""
    gateway = start_http_gateway(tmp_path, GUNICORN_CMD_ARGS=f"--graceful-timeout {GRACEFUL_TIMEOUT}")
    try:
        call = _slow_streamed_call(gateway)
        call.close()
        gateway.server.proc.send_signal(signal.SIGTERM)
        # Both workers leave without the upstream ever answering: the cancelled call holds nothing open.
        assert gateway.server.proc.wait(30) == 0
    finally:
        stop_http_gateway(gateway)
    assert _streamed_calls_audited(gateway) == [("weather_slow_report", "cancelled", "Weather Team Token")]


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:  # the field after the state is the parent's pid
                found.append(int(entry))
    return found


def _kill_hard(server: GatewayServer) -> None:
    """What a stream cut at the graceful timeout leaves behind: workers gone without their cleanup."""
    for pid in _children(server.proc.pid):
        os.kill(pid, signal.SIGKILL)
    server.proc.kill()
    server.proc.wait(10)
    server.stop()  # nothing left to stop: closes our end of its log pipe


def test_a_post_for_a_session_whose_stream_died_with_its_process_gets_404_after_a_restart(tmp_path):
    gateway = start_http_gateway(tmp_path)
    try:
        stream, endpoint = open_legacy(gateway.url, WEATHER)
        initialize_legacy(gateway.url, endpoint, stream, WEATHER)
        _kill_hard(gateway.server)
        stream.close()
        gateway.server = GatewayServer(
            gateway.server.env["DATABASE_PATH"],
            PORT=str(gateway.server.port),
            **{k: v for k, v in gateway.server.env.items() if k in ("WEB_CONCURRENCY", "SSE_KEEPALIVE_SECONDS")},
        ).start()
        session_id = endpoint.split("=", 1)[1]
        for _ in range(4):  # whichever worker takes it
            refused = post_legacy(gateway.url, endpoint, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, WEATHER)
            assert (refused.status_code, refused.text) == (404, "Session not found")
        with gateway.app.app_context():
            assert db.session.get(McpSession, session_id).ended_at is not None
        # A new stream works as ever.
        fresh, fresh_endpoint = open_legacy(gateway.url, WEATHER)
        initialize_legacy(gateway.url, fresh_endpoint, fresh, WEATHER)
        fresh.close()
    finally:
        stop_http_gateway(gateway)


def _request(sock: socket.socket, method: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """One request on a kept-alive connection; the response head, and its body when it has a length."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    status = int(head.split()[1])
    length = [
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    ]
    while length and len(body) < length[0]:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        body += chunk
    return status, body


def test_a_get_sse_arriving_once_shutdown_has_begun_is_refused_with_503(tmp_path):
    # One worker, so the kept-alive connection and the stream that shows shutdown began share it.
    gateway = start_http_gateway(
        tmp_path, WEB_CONCURRENCY="1", GUNICORN_CMD_ARGS=f"--graceful-timeout {GRACEFUL_TIMEOUT} --keep-alive 60"
    )
    auth = {"Authorization": f"Bearer {WEATHER}"}
    try:
        kept = socket.create_connection(("127.0.0.1", gateway.server.port), timeout=15)
        assert _request(kept, "POST", "/messages?sessionId=nope", {**auth, "Content-Length": "0"})[0] == 404
        stream, _ = open_legacy(gateway.url, WEATHER)
        gateway.server.proc.send_signal(signal.SIGTERM)
        assert stream.closed.wait(GRACEFUL_TIMEOUT / 4) and stream.clean_end  # the worker is shutting down
        status, body = _request(kept, "GET", "/sse", {**auth, "Accept": "text/event-stream"})
        assert status == 503 and json.loads(body)["error"] == "shutting_down"
        kept.close()
        assert gateway.server.proc.wait(30) == 0
    finally:
        stop_http_gateway(gateway)


def test_streams_of_mcp_opened_once_shutdown_has_begun_are_refused_or_ended_at_once(tmp_path):
    """GET /mcp answers 503 (as GET /sse), and a subscriptions/listen gets its acknowledgement and its
    final result at once: neither is held open until the graceful timeout cuts it."""
    from tests.support.http_gateway import stateless_meta

    gateway = start_http_gateway(
        tmp_path, WEB_CONCURRENCY="1", GUNICORN_CMD_ARGS=f"--graceful-timeout {GRACEFUL_TIMEOUT} --keep-alive 60"
    )
    try:
        session_id = initialize(gateway.url)
        # Two kept-alive connections: a leaving worker serves one more request on each, then closes it.
        kept, other = (socket.create_connection(("127.0.0.1", gateway.server.port), timeout=15) for _ in range(2))
        for sock in (kept, other):
            assert (
                _request(
                    sock,
                    "POST",
                    "/messages?sessionId=nope",
                    {"Authorization": f"Bearer {WEATHER}", "Content-Length": "0"},
                )[0]
                == 404
            )
        stream, _ = open_legacy(gateway.url, WEATHER)
        gateway.server.proc.send_signal(signal.SIGTERM)
        assert stream.closed.wait(GRACEFUL_TIMEOUT / 4) and stream.clean_end  # the worker is shutting down
        status, body = _request(
            kept, "GET", "/mcp", mcp_headers(**{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"})
        )
        assert status == 503 and json.loads(body)["error"] == "shutting_down"
        listen = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": "sub",
                "method": "subscriptions/listen",
                "params": {"notifications": {"toolsListChanged": True}, "_meta": stateless_meta()},
            }
        )
        kept.close()
        kept = other
        kept.sendall(
            (
                "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + "".join(
                    f"{k}: {v}\r\n"
                    for k, v in mcp_headers(
                        **{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "subscriptions/listen"}
                    ).items()
                )
                + f"Content-Length: {len(listen)}\r\n\r\n"
                + listen
            ).encode()
        )
        received = b""
        while b'"resultType":"complete"' not in received.replace(b" ", b""):
            chunk = kept.recv(65536)
            assert chunk, f"the listen stream was cut before its result: {received!r}"
            received += chunk
        assert b"notifications/subscriptions/acknowledged" in received
        kept.close()
        assert gateway.server.proc.wait(30) == 0
    finally:
        stop_http_gateway(gateway)


@pytest.mark.postgres
def test_on_postgresql_a_post_for_a_stream_whose_replica_died_gets_404_from_another_replica(tmp_path, pg_schema):
    """NOTIFY confirms nothing, so replica B cannot probe A's mailbox: it asks PostgreSQL whether A's bus
    session still exists. A killed without any cleanup leaves its session row; B must still refuse."""
    from sqlalchemy import create_engine, text

    from tests.conftest import _pg_engine_url

    schema = pg_schema + "_dead"
    engine = create_engine(_pg_engine_url())
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    database_url = _pg_engine_url(schema)
    a = start_http_gateway(tmp_path, database={"SQLALCHEMY_DATABASE_URI": database_url}, WEB_CONCURRENCY="1")
    b = GatewayServer(str(tmp_path / "unused.db"), DATABASE_URL=database_url, WEB_CONCURRENCY="1").start()
    try:
        stream, endpoint = open_legacy(a.url, WEATHER)
        initialize_legacy(a.url, endpoint, stream, WEATHER)
        # While A lives, B accepts the session's POSTs and the answers arrive on A's stream.
        assert (
            post_legacy(b.url, endpoint, {"jsonrpc": "2.0", "id": "via-b", "method": "ping"}, WEATHER).status_code
            == 202
        )
        assert stream.next_json() == {"jsonrpc": "2.0", "id": "via-b", "result": {}}
        _kill_hard(a.server)
        stream.close()
        session_id = endpoint.split("=", 1)[1]

        def refused():
            answer = post_legacy(b.url, endpoint, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, WEATHER)
            return (answer.status_code, answer.text) if answer.status_code != 202 else None

        assert wait_for(refused, timeout=15, what="replica B to notice that A is gone") == (404, "Session not found")
        with a.app.app_context():
            assert db.session.get(McpSession, session_id).ended_at is not None
    finally:
        b.stop()
        stop_http_gateway(a)
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
