"""BoundedResponse on a real socket pair: the deadline across reads, and headers that must end."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from janus.gateway.bounded_response import (
    BoundedResponse,
    DeadlinePassed,
    HeadersCut,
    deadline_reset,
    deadline_set,
)

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.settimeout(5)  # the per-read timeout: far longer than any deadline below
    yield ours, theirs
    ours.close()
    theirs.close()


def _drip(sock: socket.socket, data: bytes, interval: float, stop: threading.Event, sent: list[int]) -> None:
    for i in range(len(data)):
        try:
            sock.sendall(data[i : i + 1])
        except OSError:
            return
        sent.append(i)
        if stop.wait(interval):
            return


def _response(sock: socket.socket, deadline: float | None) -> BoundedResponse:
    token = deadline_set(deadline) if deadline is not None else None
    try:
        return BoundedResponse(sock, method="GET")
    finally:
        if token is not None:
            deadline_reset(token)


def test_a_status_line_trickled_a_byte_at_a_time_ends_at_the_deadline(pair):
    ours, theirs = pair
    stop = threading.Event()
    sent: list[int] = []
    writer = threading.Thread(target=_drip, args=(theirs, RESPONSE, 0.05, stop, sent))
    writer.start()
    response = _response(ours, time.monotonic() + 0.5)
    try:
        with pytest.raises(DeadlinePassed):
            response.begin()
        assert len(sent) < len(RESPONSE)  # the upstream was still sending: every byte came well within 5 s
    finally:
        stop.set()
        writer.join(10)
        response.close()


def test_a_body_trickled_a_byte_at_a_time_ends_at_the_deadline(pair):
    ours, theirs = pair
    theirs.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    response = _response(ours, time.monotonic() + 0.5)
    response.begin()
    stop = threading.Event()
    sent: list[int] = []
    writer = threading.Thread(target=_drip, args=(theirs, b"x" * 1000, 0.05, stop, sent))
    writer.start()
    received = b""
    try:
        with pytest.raises(TimeoutError):
            while chunk := response.read1(100):
                received += chunk
        assert 0 < len(received) < 1000
    finally:
        stop.set()
        writer.join(10)
        response.close()


def test_the_deadline_is_the_one_set_when_the_response_began_reading(pair):
    ours, theirs = pair
    response = _response(ours, time.monotonic() - 1)  # already past: the first read refuses
    theirs.sendall(RESPONSE)
    with pytest.raises(DeadlinePassed):
        response.begin()
    response.close()


def test_without_a_deadline_it_reads_as_http_client_does(pair):
    ours, theirs = pair
    theirs.sendall(RESPONSE)
    response = _response(ours, None)
    response.begin()
    assert (response.status, response.read()) == (200, b"hello")
    response.close()


def test_a_whole_response_within_the_deadline_reads_normally(pair):
    ours, theirs = pair
    theirs.sendall(RESPONSE)
    response = _response(ours, time.monotonic() + 30)
    response.begin()
    assert (response.status, response.getheader("Content-Type"), response.read()) == (200, "text/plain", b"hello")
    response.close()


@pytest.mark.parametrize(
    "sent",
    [b"", b"HTTP/1.1 2", b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 200 OK\r\nContent-Le", b"HTTP/1.1 200 OK\r\nA: b\r\n"],
)
def test_a_header_block_without_its_blank_line_is_cut(pair, sent):
    ours, theirs = pair
    theirs.sendall(sent)
    theirs.shutdown(socket.SHUT_WR)
    response = _response(ours, time.monotonic() + 30)
    with pytest.raises(HeadersCut):
        response.begin()
    response.close()


def test_a_complete_status_line_that_is_not_http_stays_a_bad_status_line(pair):
    ours, theirs = pair
    theirs.sendall(b"SSH-2.0-OpenSSH\r\n\r\n")
    response = _response(ours, time.monotonic() + 30)
    with pytest.raises(http.client.BadStatusLine) as caught:
        response.begin()
    assert not isinstance(caught.value, HeadersCut)
    response.close()


# -- sending --------------------------------------------------------------------------------------------


def test_a_request_body_the_upstream_reads_slowly_is_sent_by_the_deadline_not_the_sockets_timeout():
    """The upstream takes ~3 s to read 16 MB: well within the connection's 10 s timeout, not within 0.5 s."""
    import urllib3

    from janus.gateway.bounded_response import bounded_pool_classes

    connection_class = bounded_pool_classes({"http": urllib3.HTTPConnectionPool})["http"].ConnectionCls
    body = b"x" * (16 * 1024 * 1024)
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[int] = []
    stop = threading.Event()

    def read_slowly() -> None:
        sock, _ = listener.accept()
        with sock:
            sock.settimeout(10)
            while not stop.wait(0.05):  # server pacing: ~5 MB/s
                try:
                    chunk = sock.recv(256 * 1024)
                except OSError:
                    return
                if not chunk:
                    return
                received.append(len(chunk))

    reader = threading.Thread(target=read_slowly)
    reader.start()
    conn = connection_class("127.0.0.1", listener.getsockname()[1], timeout=10.0)
    token = deadline_set(time.monotonic() + 0.5)
    try:
        with pytest.raises(TimeoutError):
            conn.request("POST", "/upload", body=body)
        assert sum(received) < len(body)  # the upstream was still reading when the send gave up
    finally:
        deadline_reset(token)
        conn.close()
        stop.set()
        reader.join(10)
        listener.close()
