"""The HTTP response of the executor's connections: read within the call's deadline, with whole headers.

A socket timeout bounds one read, and every byte that arrives starts it again: an upstream that sends its
status line, headers or body a byte a second holds a call for as long as it likes. So each response reads
its socket through `_ResponseIO`, whose every read waits at most until the call's deadline (set by the
executor with `deadline_set` around the request): min(the read timeout, the time left, give or take SLACK).
Past the deadline a read raises `DeadlinePassed`, a TimeoutError like a socket timeout, which urllib3
reports as a read timeout and, like any failed exchange, answers by closing the connection. It works the
same on gevent's sockets (gunicorn workers) and the standard library's (stdio, threads). A prompt exchange
pays a clock read per read and no system call; a slow one a `settimeout` per read (bench/bounded_response_cost.py).

http.client takes an end of stream inside the header block for the end of the headers, so an upstream that
hangs up mid-headers looks like a complete response with an empty body. Reading the headers never reads past
their blank line, so a reader that met the end of the stream while they were read was cut off: then
`BoundedResponse.begin` raises `HeadersCut`.
"""

from __future__ import annotations

import contextvars
import email.errors
import http.client
import io
import socket
import time
from typing import Any

SLACK = 0.05  # how far past the deadline a read may end, so that a prompt exchange never pays a settimeout

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("janus_upstream_deadline", default=None)


class DeadlinePassed(TimeoutError):
    """The call's deadline passed while its upstream was still sending."""


class HeadersCut(http.client.HTTPException):
    """The upstream closed the connection before the blank line that ends a response's headers."""


class MalformedHeaders(http.client.HTTPException):
    """A response header line the parser could not read (no colon, a stray continuation line)."""


# Defects of multipart bodies, which a header block cannot have; urllib3 ignores them too.
_HARMLESS_DEFECTS = (email.errors.StartBoundaryNotFoundDefect, email.errors.MultipartInvariantViolationDefect)


def deadline_set(deadline: float) -> contextvars.Token[float | None]:
    """Responses that start reading from now on (here: this thread or greenlet) end by `deadline` (monotonic)."""
    return _deadline.set(deadline)


def deadline_reset(token: contextvars.Token[float | None]) -> None:
    _deadline.reset(token)


class _ResponseIO(socket.SocketIO):
    """A socket's reader for one response: every read ends by the deadline however slowly bytes arrive,
    and it remembers whether it met the end of the stream."""

    ended = False  # a read returned end of stream

    def __init__(self, sock: Any, deadline: float | None) -> None:
        super().__init__(sock, "r")
        self._socket = sock
        self._deadline = deadline
        self._read_timeout: float | None = sock.gettimeout()  # urllib3 set it just before the response began

    def readinto(self, b: Any) -> int | None:
        if self._deadline is not None:
            left = self._deadline - time.monotonic()
            if left <= 0:
                self._timeout_occurred = True  # as after a socket timeout: this reader is spent
                raise DeadlinePassed("the call's deadline passed while the upstream was sending")
            # Shortened only when the read timeout would overrun the deadline by more than SLACK: in a call
            # that is going well that is never, and settimeout is a system call or two.
            if self._read_timeout is None or left < self._read_timeout - SLACK:
                self._socket.settimeout(left)
                try:
                    count = super().readinto(b)
                except TimeoutError:
                    raise DeadlinePassed("the call's deadline passed while the upstream was sending") from None
                if count == 0:
                    self.ended = True
                return count
        count = super().readinto(b)
        if count == 0:
            self.ended = True
        return count


class _ReaderSocket:
    """What http.client.HTTPResponse is given as its socket: it only asks it for a reader."""

    __slots__ = ("_deadline", "_sock", "raw")

    def __init__(self, sock: Any, deadline: float | None) -> None:
        self._sock = sock
        self._deadline = deadline
        self.raw: _ResponseIO | None = None

    def makefile(self, mode: str) -> io.BufferedReader[Any]:
        self.raw = _ResponseIO(self._sock, self._deadline)
        reader = io.BufferedReader(self.raw, io.DEFAULT_BUFFER_SIZE)
        self._sock._io_refs += 1  # as socket.makefile does: the socket closes only once its readers have
        return reader


class BoundedResponse(http.client.HTTPResponse):
    _raw: _ResponseIO | None = None

    def __init__(self, sock: Any, debuglevel: int = 0, method: str | None = None, url: str | None = None) -> None:
        # Real sockets only (the standard library's or gevent's, both counting their readers); anything else
        # (urllib3's TLS-in-TLS transport) reads as http.client would, without a deadline or the header check.
        if hasattr(sock, "_io_refs"):
            sock = _ReaderSocket(sock, _deadline.get())
            super().__init__(sock, debuglevel, method, url)
            self._raw = sock.raw
        else:
            super().__init__(sock, debuglevel, method, url)

    def begin(self) -> None:
        if self.headers is not None:
            return
        # Reading the status line and headers stops at their blank line: a reader that met the end of the
        # stream while they were read was cut off before it (or before any line at all).
        try:
            super().begin()
        except http.client.LineTooLong:
            raise
        except http.client.HTTPException as exc:
            if self._raw is not None and self._raw.ended:
                raise HeadersCut("the upstream closed the connection before completing its response headers") from exc
            raise
        if self._raw is not None and self._raw.ended:
            self.close()
            raise HeadersCut("the upstream closed the connection before completing its response headers")
        if self.msg.defects and not all(isinstance(d, _HARMLESS_DEFECTS) for d in self.msg.defects):
            # The parser took everything after the bad line for a body, Content-Length included: reading on
            # would wait for an end that never comes (and urllib3 would log the request's URL, query and all).
            self.close()
            raise MalformedHeaders("the upstream sent a response header line that cannot be parsed")


class BoundedConnection:
    """Mixed in before urllib3's HTTPConnection/HTTPSConnection (via `bounded_pool_classes`): the request is
    sent, and the response read, by the call's deadline."""

    response_class = BoundedResponse
    sock: Any

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]  # a mixin: urllib3's connection follows it in the MRO
        self._send_by_deadline()  # a new socket: connected under the connect timeout, now sending

    def request(self, *args: Any, **kwargs: Any) -> Any:
        self._send_by_deadline()  # a kept-alive socket (a new one connects inside, see connect)
        return super().request(*args, **kwargs)  # type: ignore[misc]

    def _send_by_deadline(self) -> None:
        """Send under the time left: an upstream that reads a request body slowly cannot extend the call,
        and a kept-alive socket whose last read the deadline shortened is not left with that timeout.
        No system call when the socket's timeout is already within SLACK of it (a prompt call on a kept-alive
        socket: its last read timeout)."""
        sock = self.sock
        deadline = _deadline.get()
        if sock is None or deadline is None:
            return
        left = max(deadline - time.monotonic(), 0.001)
        current = sock.gettimeout()
        if current is None or abs(current - left) > SLACK:
            sock.settimeout(left)


def bounded_pool_classes(pool_classes: dict[str, Any]) -> dict[str, Any]:
    """The same pool classes (by scheme), their connections' responses bounded by the call's deadline."""
    bounded = {}
    for scheme, pool in pool_classes.items():
        connection = type(f"Bounded{pool.ConnectionCls.__name__}", (BoundedConnection, pool.ConnectionCls), {})
        bounded[scheme] = type(f"Bounded{pool.__name__}", (pool,), {"ConnectionCls": connection})
    return bounded
