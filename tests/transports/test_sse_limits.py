"""Limits of the legacy HTTP+SSE transport on a real gunicorn+gevent gateway (issue 10, item 7): a
stream whose client stops reading is closed once its queue passes SSE_MAX_QUEUED_BYTES, a token
holds at most SSE_MAX_STREAMS_PER_TOKEN streams across workers, at most MAX_INFLIGHT_CALLS_PER_TOKEN
of its messages are processed at once, and /messages refuses batches exactly as /mcp does."""

from __future__ import annotations

import json
import socket
import time
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select

from janus.extensions import db
from janus.models import McpSession, ToolCallLog
from janus.services.sessions import SessionStore
from tests.support.catalog import add_endpoint
from tests.support.http_gateway import BILLING, WEATHER, mcp_headers, start_http_gateway, stop_http_gateway
from tests.support.http_streams import initialize_legacy, open_legacy, post_legacy, wait_listed_everywhere
from tests.support.upstream import json_response
from tests.support.waiting import wait_for

QUEUE_CAP = 200_000  # SSE_MAX_QUEUED_BYTES here
BLOB = 150_000  # characters of one big tool result
STREAM_CAP = 3  # SSE_MAX_STREAMS_PER_TOKEN here
INFLIGHT_CAP = 2  # MAX_INFLIGHT_CALLS_PER_TOKEN here


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    """Two workers: streams and the POSTs that answer them land on either."""
    gateway = start_http_gateway(
        tmp_path_factory.mktemp("sse-limits"),
        SSE_MAX_QUEUED_BYTES=str(QUEUE_CAP),
        SSE_MAX_STREAMS_PER_TOKEN=str(STREAM_CAP),
        MAX_INFLIGHT_CALLS_PER_TOKEN="100",
    )
    gateway.upstream.route("/big", lambda request: json_response({"blob": "x" * BLOB}))
    add_endpoint(gateway.app, gateway.weather_connection, "big_report", "/big")
    wait_listed_everywhere(gateway.url, WEATHER, lambda tools: "weather_big_report" in tools, "the big tool")
    yield gateway
    stop_http_gateway(gateway)


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory):
    """One worker: the in-flight cap is per worker, so every POST must meet the same count."""
    gateway = start_http_gateway(
        tmp_path_factory.mktemp("sse-inflight"), WEB_CONCURRENCY="1", MAX_INFLIGHT_CALLS_PER_TOKEN=str(INFLIGHT_CAP)
    )
    yield gateway
    stop_http_gateway(gateway)


def _call(request_id, name: str, arguments: dict | None = None) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments or {}},
    }


def _session_ended(gw, session_id: str) -> bool:
    with gw.app.app_context():
        return db.session.scalar(select(McpSession.ended_at).where(McpSession.id == session_id)) is not None


class StalledStream:
    """GET /sse on a raw socket with a tiny receive buffer, read only when the test says so."""

    def __init__(self, gw) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
        self.sock.settimeout(15)
        self.sock.connect(("127.0.0.1", gw.server.port))
        self.sock.sendall(
            f"GET /sse HTTP/1.1\r\nHost: 127.0.0.1:{gw.server.port}\r\nAccept: text/event-stream\r\n"
            f"Authorization: Bearer {WEATHER}\r\n\r\n".encode()
        )
        self.received = b""
        head = self.read_until(b"data: /messages?sessionId=")
        assert head.startswith(b"HTTP/1.1 200 ")
        self.endpoint = self.read_until(b"\n")[head.index(b"data: ") + 6 :].split(b"\n", 1)[0].decode().strip()
        self.session_id = self.endpoint.split("=", 1)[1]

    def read_until(self, marker: bytes) -> bytes:
        while marker not in self.received:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"stream ended before {marker!r}")
            self.received += chunk
        return self.received

    def read_to_end(self) -> bytes:
        try:
            while chunk := self.sock.recv(65536):
                self.received += chunk
        except ConnectionResetError:
            pass
        return self.received

    def close(self) -> None:
        self.sock.close()


def _initialize(gw, stream: StalledStream) -> None:
    assert (
        post_legacy(
            gw.url,
            stream.endpoint,
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
            WEATHER,
        ).status_code
        == 202
    )
    stream.read_until(b'"id":"init"')
    assert (
        post_legacy(
            gw.url, stream.endpoint, {"jsonrpc": "2.0", "method": "notifications/initialized"}, WEATHER
        ).status_code
        == 202
    )


def _gave_up(gw) -> int:
    return gw.server.log.count("the client is not reading; closing its stream")


def _flood_until_closed(gw, stream: StalledStream, limit: int = 60) -> int:
    """Big results for a stream that reads nothing, until the gateway gives up on it (at most `limit`)."""
    before = _gave_up(gw)
    for i in range(limit):
        status = post_legacy(gw.url, stream.endpoint, _call(i, "weather_big_report"), WEATHER).status_code
        if status == 404 or _gave_up(gw) > before:
            wait_for(lambda: _gave_up(gw) > before, timeout=15, what="the slow-consumer log line")
            return i
        assert status == 202
    raise AssertionError(
        f"{limit} results of {BLOB} characters queued for a stream that reads nothing, and it is still open"
    )


# -- a stream whose client stops reading ------------------------------------------------------


def test_a_stream_that_stops_reading_gets_a_final_error_event_once_its_queue_passes_the_cap(gw):
    stream = StalledStream(gw)
    try:
        _initialize(gw, stream)
        _flood_until_closed(gw, stream)
        received = stream.read_to_end()  # the client reads again, within the grace period
    finally:
        stream.close()
    assert b"event: error" in received
    final = received[received.rindex(b"event: error") :]
    assert b'"error":"slow_consumer"' in final and f"more than {QUEUE_CAP} bytes".encode() in final
    assert received.endswith(b"0\r\n\r\n")  # the chunked stream ended cleanly, after the error event
    wait_for(lambda: _session_ended(gw, stream.session_id), timeout=10, what="the session to end")
    assert (
        post_legacy(gw.url, stream.endpoint, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, WEATHER).status_code == 404
    )


def test_a_stream_that_never_reads_again_is_cut_off_and_its_session_ended(gw):
    stream = StalledStream(gw)
    try:
        _initialize(gw, stream)
        _flood_until_closed(gw, stream)
        # Its write is stuck on a full socket: after the grace period the gateway shuts the socket.
        wait_for(lambda: _session_ended(gw, stream.session_id), timeout=20, what="the stalled stream to be cut off")
    finally:
        stream.close()


# -- streams per token --------------------------------------------------------------------------


def test_a_token_opens_at_most_its_cap_of_streams_across_workers(gw):
    opened = [open_legacy(gw.url, WEATHER) for _ in range(STREAM_CAP)]
    streams = [stream for stream, _ in opened]
    streams_ids = [endpoint.split("=", 1)[1] for _, endpoint in opened]
    try:
        refused = requests.get(
            gw.url + "/sse", headers={"Authorization": f"Bearer {WEATHER}"}, timeout=10, stream=True
        )  # were it opened, an SSE body never ends: do not read it
        if refused.status_code != 429:
            refused.close()
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "5"
        assert refused.json()["error"] == "too_many_streams"
        assert f"already has {STREAM_CAP} open SSE streams" in refused.json()["message"]
        other, _ = open_legacy(gw.url, BILLING)  # another token is not affected
        other.close()
        streams.pop().close()
        # The closed stream's session ends on its worker; then the token may open one again.
        closed_id = streams_ids.pop()
        wait_for(lambda: _session_ended(gw, closed_id), timeout=10, what="the closed stream's session to end")
        again, _ = open_legacy(gw.url, WEATHER)
        streams.append(again)
    finally:
        for stream in streams:
            stream.close()


def test_streams_opened_at_once_past_the_cap_never_end_an_accepted_one(gw):
    """Opening many streams at once pushes the count over the cap, so each opener probes the others:
    a stream whose row was visible before its mailbox existed was taken for a dead one and ended,
    and its client's POSTs got 404 (the HTTP benchmark's 16 streams hit this)."""
    wait_for(lambda: not _open_sse_sessions(gw), timeout=15, what="earlier streams to end")
    from concurrent.futures import ThreadPoolExecutor

    def attempt(_):
        try:
            return open_legacy(gw.url, WEATHER)
        except AssertionError:  # refused (429): over the cap
            return None

    served = 0
    for _round in range(3):
        with ThreadPoolExecutor(max_workers=STREAM_CAP + 5) as pool:
            accepted = [opened for opened in pool.map(attempt, range(STREAM_CAP + 5)) if opened is not None]
        served += len(accepted)
        try:
            # Each opener counts after its own row exists, so at most the cap get through (all may be
            # refused when every row is written before any count).
            assert len(accepted) <= STREAM_CAP
            for number, (stream, endpoint) in enumerate(accepted):
                answer = post_legacy(gw.url, endpoint, {"jsonrpc": "2.0", "id": number, "method": "ping"}, WEATHER)
                assert answer.status_code == 202, (answer.status_code, answer.text)
                assert stream.next_json(timeout=15)["id"] == number
        finally:
            for stream, _ in accepted:
                stream.close()
        wait_for(lambda: not _open_sse_sessions(gw), timeout=15, what="this round's streams to end")
    assert served > 0


def test_sessions_left_open_by_a_dead_process_do_not_count_against_the_cap(gw):
    wait_for(lambda: not _open_sse_sessions(gw), timeout=15, what="earlier streams to end")
    with gw.app.app_context():
        store = SessionStore(db.engine, idle_timeout=timedelta(days=1))
        stale = [
            store.create("sse", _weather_hash(), owner_node=f"/nonexistent/{4_000_000 + i}-deadbeef.sock").id
            for i in range(STREAM_CAP)
        ]
    stream, _ = open_legacy(gw.url, WEATHER)  # probing the stale rows over the bus ends them
    stream.close()
    assert all(_session_ended(gw, session_id) for session_id in stale)


@pytest.mark.postgres
def test_on_postgresql_a_stream_past_the_cap_is_refused_with_429_when_another_process_holds_the_others(
    tmp_path, pg_schema
):
    """The probe marker holds a NUL, which a NOTIFY cannot carry: probing another process's stream
    over the PostgreSQL bus raised, and the GET answered 500. The other holder is a live bus (this test
    process's); once it is gone, its row no longer counts and a stream is admitted."""
    from sqlalchemy import create_engine, text

    from janus.transports.bus import create_bus
    from tests.conftest import _pg_engine_url

    schema = pg_schema + "_cap"
    engine = create_engine(_pg_engine_url())
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    gateway = start_http_gateway(
        tmp_path, database={"SQLALCHEMY_DATABASE_URI": _pg_engine_url(schema)}, SSE_MAX_STREAMS_PER_TOKEN="1"
    )
    other = create_bus(_pg_engine_url(schema))
    other.start()
    try:
        with gateway.app.app_context():
            store = SessionStore(db.engine, idle_timeout=timedelta(days=1))
            held = store.create("sse", _weather_hash(), owner_node=other.node)
        refused = requests.get(
            gateway.url + "/sse", headers={"Authorization": f"Bearer {WEATHER}"}, timeout=10, stream=True
        )
        if refused.status_code != 429:
            refused.close()
        assert refused.status_code == 429 and refused.json()["error"] == "too_many_streams"
        assert "Traceback" not in gateway.server.log
        other.close()  # the holder's process is gone: its PostgreSQL session with it
        admitted = wait_for(
            lambda: (
                (
                    r := requests.get(
                        gateway.url + "/sse", timeout=10, stream=True, headers={"Authorization": f"Bearer {WEATHER}"}
                    )
                ).status_code
                == 200
                and [r]
            ),
            what="a stream to be admitted",
        )[0]
        admitted.close()
        with gateway.app.app_context():
            assert store.get(held.id) is None  # the dead holder's row was ended, not merely skipped
    finally:
        other.close()
        stop_http_gateway(gateway)
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def _weather_hash() -> str:
    import base64

    from janus.gateway.catalog import hash_token
    from tests.support.stdio import TEST_TOKEN_HASH_KEY

    return hash_token(WEATHER, base64.b64decode(TEST_TOKEN_HASH_KEY))


def _open_sse_sessions(gw) -> list[str]:
    with gw.app.app_context():
        return list(
            db.session.scalars(
                select(McpSession.id).where(
                    McpSession.transport == "sse",
                    McpSession.token_hash == _weather_hash(),
                    McpSession.ended_at.is_(None),
                )
            )
        )


# -- messages in flight per token -------------------------------------------------------------


def _post_once_the_cap_allows(url: str, endpoint: str, stream, message: dict) -> None:
    """POST a message, retrying while the token's cap is still taken by the session's own handshake: the
    cap counts every message being processed, and `notifications/initialized` is processed after its 202
    (on a loaded machine, still when the next POST arrives). Each refusal's error event is read off the
    stream so the test's later reads see only what they expect."""
    deadline = time.monotonic() + 30
    while True:
        answer = post_legacy(url, endpoint, message, WEATHER)
        if answer.status_code == 202:
            return
        assert answer.status_code == 429 and time.monotonic() < deadline, answer.status_code
        assert stream.next_json()["id"] == message["id"]
        time.sleep(0.05)


def test_a_message_past_the_tokens_in_flight_cap_gets_429_and_a_json_rpc_error_and_is_audited(one_worker):
    gw = one_worker
    stream, endpoint = open_legacy(gw.url, WEATHER)
    gw.release.clear()
    try:
        initialize_legacy(gw.url, endpoint, stream, WEATHER)
        slow_before = sum(1 for seen in gw.upstream.seen if seen.path == "/slow")
        for i in range(INFLIGHT_CAP):
            _post_once_the_cap_allows(gw.url, endpoint, stream, _call(f"slow{i}", "weather_slow_report"))
        wait_for(
            lambda: sum(1 for seen in gw.upstream.seen if seen.path == "/slow") == slow_before + INFLIGHT_CAP,
            what="both slow calls to reach the upstream",
        )
        refused = post_legacy(gw.url, endpoint, _call("over", "weather_get_station", {"id": "s1"}), WEATHER)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == -32050 and refused.json()["id"] == "over"
        assert stream.next_json()["error"]["code"] == -32050  # where the client waits for its answer
        other, other_endpoint = open_legacy(gw.url, BILLING)  # the cap is per token
        initialize_legacy(gw.url, other_endpoint, other, BILLING)
        other.close()
    finally:
        gw.release.set()
    answered = {stream.next_json()["id"], stream.next_json()["id"]}
    assert answered == {"slow0", "slow1"}
    assert (
        post_legacy(gw.url, endpoint, _call("after", "weather_get_station", {"id": "s2"}), WEATHER).status_code == 202
    )
    assert stream.next_json()["id"] == "after"
    stream.close()

    def denied_row():
        with gw.app.app_context():
            return db.session.scalars(
                select(ToolCallLog).where(
                    ToolCallLog.status == "denied", ToolCallLog.tool_name == "weather_get_station"
                )
            ).first()

    row = wait_for(denied_row, what="the refused call's audit row")
    assert row.error_message == "too many calls in flight for this token" and row.transport == "sse"


# -- batches --------------------------------------------------------------------------------------


def test_messages_refuses_a_batch_exactly_as_mcp_does(one_worker):
    gw = one_worker
    stream, endpoint = open_legacy(gw.url, WEATHER)
    try:
        batch = [{"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"jsonrpc": "2.0", "id": 2, "method": "ping"}]
        legacy = post_legacy(gw.url, endpoint, batch, WEATHER)
        mcp = requests.post(gw.url + "/mcp", data=json.dumps(batch), headers=mcp_headers(WEATHER), timeout=10)
    finally:
        stream.close()
    assert legacy.status_code == mcp.status_code == 400
    assert legacy.json() == mcp.json()
    assert legacy.json()["error"]["code"] == -32600 and "no batches" in legacy.json()["error"]["message"]
