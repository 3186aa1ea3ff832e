"""A misbehaving HTTP upstream on 127.0.0.1, written on raw sockets so it can break HTTP at any byte.

Each request is handed to a scenario (`respond(exchange)`) that writes whatever bytes it likes, as slowly
as it likes, and may reset or close the connection; when it returns with the connection still open, the
next request on that kept-alive connection is read and handed over in turn. Ready-made scenarios below:
slow headers, slow body, reset mid-body, a short body, cut headers, a body that stalls and finishes late.

Everything is bounded: a scenario's pauses end when the server stops (`Exchange.pause`), drips stop at
their own time limit or when the client hangs up, and `stop()` closes every socket and joins every thread.
The server records what it saw (`requests`, `hung_up`) for tests to assert on.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

HEAD_LIMIT = 65536  # a request's line and headers; the gateway's are a few hundred bytes
DRIP_LIMIT = 30.0  # no drip runs longer than this, whatever the test forgets


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    connection: int  # which accepted connection (0, 1, …) carried it
    index: int  # its position on that connection (0 for the first request)


@dataclass
class Exchange:
    """One request and the socket to answer it on."""

    request: Request
    sock: socket.socket
    stopping: threading.Event
    events: list[tuple[int, str]]
    closed: bool = False

    def note(self, what: str) -> None:
        """Record what the scenario did, by connection (`FaultyUpstream.events`)."""
        self.events.append((self.request.connection, what))

    def send(self, data: bytes) -> bool:
        """False when the client has gone (the scenario should stop writing)."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def drip(self, data: bytes, interval: float, limit: float = DRIP_LIMIT) -> bool:
        """One byte every `interval` seconds; False when the client went away, the server stopped or the limit passed."""
        ends = time.monotonic() + limit
        for i in range(len(data)):
            if not self.send(data[i : i + 1]):
                return False
            if self.stopping.wait(interval) or time.monotonic() > ends:
                return False
        return True

    def pause(self, seconds: float) -> bool:
        """Wait (server pacing, not a test wait); False when the server is stopping."""
        return not self.stopping.wait(seconds)

    def hung_up_within(self, seconds: float) -> bool:
        """Wait up to `seconds` for the client to close the connection (True); False when it sends more, the
        time passes or the server stops. Nothing is consumed. Plain HTTP only (TLS cannot peek)."""
        ends = time.monotonic() + seconds
        try:
            self.sock.settimeout(0.1)
            while time.monotonic() < ends and not self.stopping.is_set():
                try:
                    return not self.sock.recv(1, socket.MSG_PEEK)
                except TimeoutError:
                    continue
        except OSError:
            return True  # reset by the client
        finally:
            try:
                self.sock.settimeout(None)
            except OSError:
                pass
        return False

    def close(self) -> None:
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def reset(self) -> None:
        """Abort the connection: the client's next read fails with ECONNRESET (SO_LINGER 0, then close)."""
        self.closed = True
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.sock.close()


Scenario = Callable[[Exchange], None]


def response_head(status: int = 200, content_type: str | None = "application/json", length: int | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Status'}"]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def complete(body: bytes, content_type: str | None = "application/json", status: int = 200) -> bytes:
    return response_head(status, content_type, len(body)) + body


def echo_path(exchange: Exchange) -> None:
    """A well-behaved answer naming the request's path: proof of which request a response belongs to."""
    path = exchange.request.path.encode()
    exchange.send(complete(b'{"path": "' + path + b'"}'))


@dataclass
class FaultyUpstream:
    """Serves `respond` on 127.0.0.1 (an ephemeral port) until `stop()`; use as a context manager.
    With `tls` (a server context), over HTTPS: every fault then happens inside the TLS stream."""

    respond: Scenario
    tls: ssl.SSLContext | None = None
    requests: list[Request] = field(default_factory=list)
    hung_up: list[int] = field(default_factory=list)  # connections the client closed (seen as EOF or reset)
    events: list[tuple[int, str]] = field(default_factory=list)  # (connection, what): see Exchange.note
    connections: int = 0
    _stopping: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _socks: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)  # so the accept loop notices stop()
        self.port: int = self._listener.getsockname()[1]
        self._spawn(self._accept_loop)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultyUpstream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            socks = list(self._socks)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in list(self._threads):
            thread.join(timeout=10)
        for sock in socks:
            sock.close()
        self._listener.close()

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                number = self.connections
                self.connections += 1
                self._socks.append(sock)
            sock.settimeout(None)
            self._spawn(self._serve, sock, number)

    def _serve(self, sock: socket.socket, number: int) -> None:
        if self.tls is not None:
            try:
                sock.settimeout(10)
                sock = self.tls.wrap_socket(sock, server_side=True)  # the handshake, bounded by the timeout
            except OSError:
                self.hung_up.append(number)
                return
            with self._lock:
                self._socks.append(sock)  # closed at stop; the plain socket it wraps is detached
        buffer = b""
        index = 0
        while not self._stopping.is_set():
            request, buffer = _read_request(sock, buffer, self._stopping)
            if request is None:
                self.hung_up.append(number)
                return
            method, path, headers, body = request
            exchange = Exchange(Request(method, path, headers, body, number, index), sock, self._stopping, self.events)
            self.requests.append(exchange.request)
            index += 1
            self.respond(exchange)
            if exchange.closed:
                return


def _read_request(
    sock: socket.socket, buffer: bytes, stopping: threading.Event
) -> tuple[tuple[str, str, dict[str, str], bytes] | None, bytes]:
    """The next request on the socket (None when the client closed it) and what was read past it."""
    sock.settimeout(0.1)  # so a stopping server notices; the scenario gets a blocking socket back
    try:
        while b"\r\n\r\n" not in buffer:
            if len(buffer) > HEAD_LIMIT or stopping.is_set():
                return None, b""
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return None, b""
            if not data:
                return None, b""
            buffer += data
        head, _, rest = buffer.partition(b"\r\n\r\n")
        line, *header_lines = head.decode("latin-1").split("\r\n")
        method, path, _ = line.split(" ", 2)
        headers = {}
        for header in header_lines:
            name, _, value = header.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        while len(rest) < length:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                if stopping.is_set():
                    return None, b""
                continue
            except OSError:
                return None, b""
            if not data:
                return None, b""
            rest += data
        return (method, path, headers, rest[:length]), rest[length:]
    finally:
        try:
            sock.settimeout(None)
        except OSError:
            pass


def wait_hung_up(upstream: FaultyUpstream, connection: int, timeout: float = 15.0) -> None:
    """Until the client has closed that connection (it sees EOF or a reset on its next read)."""
    from tests.support.waiting import wait_for

    wait_for(
        lambda: connection in upstream.hung_up, timeout=timeout, what=f"the client to close connection {connection}"
    )


# -- scenarios --------------------------------------------------------------------------------------------


def slow_headers(interval: float = 0.2) -> Scenario:
    """The status line and headers one byte every `interval` seconds (each byte would reset a per-read timeout)."""

    def respond(exchange: Exchange) -> None:
        exchange.note("sent it all" if exchange.drip(complete(b'{"late": true}'), interval) else "stopped")
        exchange.close()

    return respond


def slow_body(interval: float = 0.2, length: int = 1000) -> Scenario:
    """Headers at once, then the body one byte every `interval` seconds."""

    def respond(exchange: Exchange) -> None:
        if exchange.send(response_head(200, "text/plain", length)):
            exchange.note("sent it all" if exchange.drip(b"x" * length, interval) else "stopped")
        exchange.close()

    return respond


def reset_mid_body(sent: bytes = b'{"partial": ') -> Scenario:
    """Headers promising more, part of the body, then a TCP reset."""

    def respond(exchange: Exchange) -> None:
        exchange.send(response_head(200, "application/json", len(sent) + 100) + sent)
        exchange.pause(0.05)  # let the client read what was sent before the reset arrives
        exchange.reset()

    return respond


def short_body(declared: int = 100, sent: bytes = b"0123456789") -> Scenario:
    """A Content-Length longer than the body sent, then an orderly close."""

    def respond(exchange: Exchange) -> None:
        exchange.send(response_head(200, "text/plain", declared) + sent)
        exchange.close()

    return respond


def cut_headers(sent: bytes) -> Scenario:
    """Part of a status line or header block, then an orderly close."""

    def respond(exchange: Exchange) -> None:
        exchange.send(sent)
        exchange.close()

    return respond


def fixed(raw: bytes) -> Scenario:
    """The same bytes for every request, connection kept open (a complete response)."""

    def respond(exchange: Exchange) -> None:
        exchange.send(raw)

    return respond


def drip_then_finish_late(first_part: bytes, rest: bytes, interval: float) -> Scenario:
    """The first request's headers, then part of its body dripped (one byte per `interval`), then a pause; when
    a second request comes on that same connection, the rest of the first body and then a proper answer to it,
    as a server that was merely slow would. A client that put the connection back in its pool after giving up
    on the first answer reads the end of the old body as the second answer. Other connections: `echo_path`."""

    def respond(exchange: Exchange) -> None:
        request = exchange.request
        if request.connection == 0 and request.index == 0:
            exchange.send(response_head(200, "application/json", len(first_part) + len(rest)))
            exchange.note("dripped" if exchange.drip(first_part, interval) else "stopped")
            return  # the connection stays open, the body unfinished
        if request.connection == 0:
            exchange.send(rest)
        echo_path(exchange)

    return respond


def stall_first_body(
    stall: float, first_part: bytes = b'{"path": "/first", ', rest: bytes = b'"done": true}'
) -> Scenario:
    """The first request gets its headers and part of its body, then nothing for `stall` seconds, then the rest
    (on the same connection, as a server that was merely slow would); every later request is answered at once
    with its own path."""

    def respond(exchange: Exchange) -> None:
        if exchange.request.connection == 0 and exchange.request.index == 0:
            body_length = len(first_part) + len(rest)
            exchange.send(response_head(200, "application/json", body_length) + first_part)
            if exchange.hung_up_within(stall):
                exchange.note("hung up")
                exchange.close()
            elif not exchange.stopping.is_set():
                exchange.send(rest)
            return
        echo_path(exchange)

    return respond
