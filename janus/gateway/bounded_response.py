"""The HTTP response of the executor's connections: read within the call's deadline, with whole headers.

A socket timeout bounds one read, and every byte that arrives starts it again: an upstream that sends its
status line, headers or body a byte a second holds a call for as long as it likes. So each response reads
its socket through `_DeadlineIO`, which waits at most until the call's deadline (set by the executor with
`deadline_set` around the request): min(the read timeout, the time left). Past the deadline a read raises
`DeadlinePassed`, a TimeoutError like a socket timeout, which urllib3 reports as a read timeout and, like
any failed exchange, answers by closing the connection. It costs a clock read and a `settimeout` per read,
in green threads (gevent's sockets) and plain threads alike.

http.client takes an end of stream inside the header block for the end of the headers, so an upstream that
hangs up mid-headers looks like a complete response with an empty body. `BoundedResponse.begin` watches the
header lines and raises `HeadersCut` unless the block ended with its blank line.
"""

from __future__ import annotations

import contextvars
import http.client
import io
import socket
import time
from typing import Any

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("janus_upstream_deadline", default=None)


class DeadlinePassed(TimeoutError):
    """The call's deadline passed while its upstream was still sending."""


class HeadersCut(http.client.HTTPException):
    """The upstream closed the connection before the blank line that ends a response's headers."""


def deadline_set(deadline: float) -> contextvars.Token[float | None]:
    """Responses that start reading from now on (here: this thread or greenlet) end by `deadline` (monotonic)."""
    return _deadline.set(deadline)


def deadline_reset(token: contextvars.Token[float | None]) -> None:
    _deadline.reset(token)


class _DeadlineIO(socket.SocketIO):
    """A socket's reader whose every read ends by the deadline, however slowly the bytes arrive."""

    def __init__(self, sock: Any, deadline: float) -> None:
        super().__init__(sock, "r")
        self._socket = sock
        self._deadline = deadline
        self._read_timeout: float | None = sock.gettimeout()  # urllib3 set it just before the response began

    def readinto(self, b: Any) -> int | None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            self._timeout_occurred = True  # as after a socket timeout: this reader is spent
            raise DeadlinePassed("the call's deadline passed while the upstream was sending")
        if self._read_timeout is None or left < self._read_timeout:
            self._socket.settimeout(left)
        return super().readinto(b)


class _DeadlineSocket:
    """What http.client.HTTPResponse is given as its socket: it only asks it for a reader."""

    __slots__ = ("_deadline", "_sock")

    def __init__(self, sock: Any, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str) -> io.BufferedReader[Any]:
        reader = io.BufferedReader(_DeadlineIO(self._sock, self._deadline), io.DEFAULT_BUFFER_SIZE)
        self._sock._io_refs += 1  # as socket.makefile does: the socket closes only once its readers have
        return reader


class _HeaderLines:
    """The response's reader while its status line and headers are read: remembers the last line."""

    __slots__ = ("fp", "last")

    def __init__(self, fp: Any) -> None:
        self.fp = fp
        self.last = b""

    def readline(self, limit: int = -1) -> bytes:
        line: bytes = self.fp.readline(limit)
        self.last = line
        return line

    def close(self) -> None:
        self.fp.close()


class BoundedResponse(http.client.HTTPResponse):
    def __init__(self, sock: Any, debuglevel: int = 0, method: str | None = None, url: str | None = None) -> None:
        deadline = _deadline.get()
        # Real sockets only (the standard library's or gevent's, both counting their readers); anything else
        # (urllib3's TLS-in-TLS transport) reads as http.client would.
        if deadline is not None and hasattr(sock, "_io_refs"):
            sock = _DeadlineSocket(sock, deadline)
        super().__init__(sock, debuglevel, method, url)

    def begin(self) -> None:
        if self.headers is not None:
            return
        fp = self.fp
        lines = _HeaderLines(fp)
        self.fp = lines  # http.client only calls readline (and close) while it begins
        try:
            super().begin()
        except http.client.LineTooLong:
            raise
        except http.client.HTTPException as exc:
            if not lines.last.endswith(b"\n"):  # a line cut by the end of the stream, or no line at all
                raise HeadersCut("the upstream closed the connection before completing its response headers") from exc
            raise
        finally:
            if self.fp is lines:  # http.client drops fp when it closes the response itself
                self.fp = fp
        if lines.last not in (b"\r\n", b"\n"):
            self.close()
            raise HeadersCut("the upstream closed the connection before completing its response headers")


class BoundedConnection:
    """Mixed in before urllib3's HTTPConnection/HTTPSConnection (via `bounded_pool_classes`)."""

    response_class = BoundedResponse
    sock: Any
    timeout: Any

    def request(self, *args: Any, **kwargs: Any) -> Any:
        if self.sock is not None:
            # A kept-alive socket keeps the last read's timeout, which the deadline may have shortened to
            # almost nothing: the next request is sent under the connection's own, as on a new socket.
            self.sock.settimeout(self.timeout)
        return super().request(*args, **kwargs)  # type: ignore[misc]  # a mixin: urllib3's connection follows it


def bounded_pool_classes(pool_classes: dict[str, Any]) -> dict[str, Any]:
    """The same pool classes (by scheme), their connections' responses bounded by the call's deadline."""
    bounded = {}
    for scheme, pool in pool_classes.items():
        connection = type(f"Bounded{pool.ConnectionCls.__name__}", (BoundedConnection, pool.ConnectionCls), {})
        bounded[scheme] = type(f"Bounded{pool.__name__}", (pool,), {"ConnectionCls": connection})
    return bounded
