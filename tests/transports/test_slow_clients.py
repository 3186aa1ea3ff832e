"""Slow clients against a real one-worker gunicorn+gevent gateway (issue 10, item 6): a body that
never arrives is answered 408, one address cannot hold more than its share of the worker's
connections, a request head that never ends is dropped, and /healthz answers throughout."""

from __future__ import annotations

import socket
import time

import pytest
import requests

from janus.auth.response_headers import BASELINE_HEADERS
from tests.support.http_gateway import WEATHER, start_http_gateway, stop_http_gateway
from tests.support.http_streams import open_legacy
from tests.support.waiting import wait_for

READ_TIMEOUT = 2  # REQUEST_READ_TIMEOUT_SECONDS here
PER_CLIENT = 40  # MAX_CONNECTIONS_PER_CLIENT here
SLOW_SOCKETS = 200
ATTACKER = "127.0.0.2"  # loopback too: the slow sockets' source address, so the test's own requests are not capped


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    gateway = start_http_gateway(
        tmp_path_factory.mktemp("slow"),
        WEB_CONCURRENCY="1",
        REQUEST_READ_TIMEOUT_SECONDS=str(READ_TIMEOUT),
        MAX_CONNECTIONS_PER_CLIENT=str(PER_CLIENT),
    )
    yield gateway
    stop_http_gateway(gateway)


def _slow_post(gw, path: str, *, source: str = "127.0.0.1", length: int = 60_000) -> socket.socket:
    """A POST whose head arrives whole and declares `length` bytes of body, of which none follow."""
    sock = socket.create_connection(("127.0.0.1", gw.server.port), timeout=15, source_address=(source, 0))
    sock.sendall(
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{gw.server.port}\r\n"
            f"Authorization: Bearer {WEATHER}\r\nAccept: application/json, text/event-stream\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        ).encode()
    )
    return sock


def _answer(sock: socket.socket) -> bytes:
    """Everything the gateway sends until it closes the connection (the socket's timeout bounds it)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError) as exc:
        if not chunks:
            raise AssertionError(f"no answer before {exc!r}") from None
    finally:
        sock.close()
    return b"".join(chunks)


@pytest.mark.parametrize("target", ["/mcp", "/messages"])
def test_a_body_that_never_arrives_is_answered_408_and_the_connection_closed(gw, target):
    stream = None
    path = target
    if target == "/messages":
        stream, path = open_legacy(gw.url, WEATHER)  # the body is read only for a live session
    try:
        started = time.monotonic()
        answer = _answer(_slow_post(gw, path))
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b'"error":"request_timeout"' in answer
        head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
        for name, value in BASELINE_HEADERS:  # every response carries them, this one too
            assert f"{name}: {value}".lower() in head, name
        assert time.monotonic() - started >= READ_TIMEOUT * 0.9  # the deadline, not an early refusal
    finally:
        if stream is not None:
            stream.close()
    # The log reaches the test through a reader thread: wait for it rather than race it.
    wait_for(lambda: "request body not received within 2 s" in gw.server.log, what="the 408's log line")


def test_healthz_answers_while_one_address_holds_the_worker_with_slow_bodies(gw):
    slow = [_slow_post(gw, "/mcp", source=ATTACKER) for _ in range(SLOW_SOCKETS)]
    try:
        # The sockets beyond the per-address cap are refused at once, before their heads are read.
        for sock in slow:
            sock.settimeout(READ_TIMEOUT * 5)
        for _ in range(10):
            health = requests.get(gw.url + "/healthz", timeout=5)
            assert health.status_code == 200
        answers = [_answer(sock) for sock in slow]
    finally:
        for sock in slow:
            sock.close()
    statuses = [a.split(b" ", 2)[1] for a in answers]
    assert statuses.count(b"429") == SLOW_SOCKETS - PER_CLIENT
    assert statuses.count(b"408") == PER_CLIENT
    assert b'"error":"too_many_connections"' in next(a for a in answers if b" 429 " in a[:20])
    assert requests.get(gw.url + "/healthz", timeout=5).status_code == 200


def test_a_request_head_that_never_ends_is_dropped_after_the_keepalive_timeout(gw):
    sock = socket.create_connection(("127.0.0.1", gw.server.port), timeout=20)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line: the head never ends
    try:
        assert sock.recv(1024) == b""  # closed by the gateway (gunicorn keepalive = 5 s), not by our timeout
    finally:
        sock.close()
