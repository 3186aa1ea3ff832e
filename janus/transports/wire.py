"""Just enough HTTP for the MCP endpoints, over a plain WSGI environ.

POST /mcp is the gateway's hot path. Flask's request context, hooks and
response machinery cost a worker about a fifth of its CPU per tools/call
(py-spy, bench/http_benchmark.py --profile), as much as all of Janus's own
work around the upstream call. So the Streamable HTTP endpoint is a small WSGI
application mounted in front of Flask (janus/transports/streamable_http.py),
and these are the request and response it reads and writes. The Flask
transports return the same response type: a Flask view may return any WSGI
application.
"""

from __future__ import annotations

import logging
import socket
import sys
import time
from collections.abc import Iterable, Iterator
from http import HTTPStatus
from typing import Any

from janus.auth.response_headers import BASELINE_HEADERS

log = logging.getLogger(__name__)

_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}
_UNPREFIXED = {"CONTENT_TYPE", "CONTENT_LENGTH"}  # the two headers WSGI stores without HTTP_
_BODYLESS = {204, 304}
_READ_CHUNK = 65536


class BodyTooLarge(Exception):
    pass


class BodyReadTimeout(BaseException):
    """The request body did not arrive within the read deadline.

    A BaseException, like gevent's Timeout: the `except Exception` guards of the views and of
    /mcp must not turn it into a 500; it travels up to `ReadDeadline`, which answers 408.
    """


class _DeadlineInput:
    """`wsgi.input` whose reads all end by one deadline, counted from the start of the request.

    One deadline for the whole body, not one per read: a client sending a byte every few
    seconds would never trip a per-read timeout.
    """

    __slots__ = ("_stream", "_deadline", "_timeout")

    def __init__(self, stream, deadline: float, timeout_class) -> None:
        self._stream = stream
        self._deadline = deadline
        self._timeout = timeout_class

    def _bounded(self, method: str, *args):
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise BodyReadTimeout
        timer = self._timeout(remaining, BodyReadTimeout)
        timer.start()
        try:
            return getattr(self._stream, method)(*args)
        finally:
            timer.close()

    def read(self, *args):
        return self._bounded("read", *args)

    def readline(self, *args):
        return self._bounded("readline", *args)

    def readlines(self, *args):
        return self._bounded("readlines", *args)

    def __iter__(self):
        while True:
            line = self.readline()
            if not line:
                return
            yield line


_TIMEOUT_BODY = (
    b'{"error":"request_timeout","message":"The request body was not received in time; the connection is closed."}'
)


class ReadDeadline:
    """WSGI middleware: a request body must be fully received within `seconds` of the request's start.

    gunicorn's gevent worker bounds the wait for a request's headers (its keep-alive timeout) but not
    a body read: a client declaring a large Content-Length and sending nothing held a connection
    slot forever, and enough of them (worker_connections) made the worker deaf. Past the deadline
    the request is answered 408 and the connection closed. Needs gevent (the gateway's worker); it
    does nothing where gevent's sockets are not in use (the stdio process, tests through Flask's
    test client).
    """

    def __init__(self, app, seconds: float) -> None:
        self._app = app
        self._seconds = seconds
        self._timeout_class = None
        if seconds > 0:
            try:
                from gevent import Timeout, monkey
            except ImportError:
                return
            if monkey.is_module_patched("socket"):
                self._timeout_class = Timeout

    def __call__(self, environ, start_response):
        if self._timeout_class is None or not _has_body(environ):
            return self._app(environ, start_response)
        environ["wsgi.input"] = _DeadlineInput(
            environ["wsgi.input"], time.monotonic() + self._seconds, self._timeout_class
        )
        try:
            return self._app(environ, start_response)
        except BodyReadTimeout:
            log.warning(
                "%s %s: request body not received within %.0f s; answered 408 and closed the connection",
                environ.get("REQUEST_METHOD"),
                environ.get("PATH_INFO"),
                self._seconds,
            )
            sock = environ.get("gunicorn.socket")
            if sock is not None:
                # gunicorn would drain the rest of the body before the next request: close the reading
                # side instead, so the connection ends after this answer.
                try:
                    sock.shutdown(socket.SHUT_RD)
                except OSError:
                    pass
            start_response(
                "408 Request Timeout",
                # Answered around Flask and /mcp alike, so neither's headers hook runs: the baseline by hand.
                [("Content-Type", "application/json"), ("Content-Length", str(len(_TIMEOUT_BODY))), *BASELINE_HEADERS],
                sys.exc_info(),
            )
            return [_TIMEOUT_BODY]


def _has_body(environ) -> bool:
    length = environ.get("CONTENT_LENGTH")
    if length and length != "0":
        return True
    return "chunked" in (environ.get("HTTP_TRANSFER_ENCODING") or "").lower()


class WireRequest:
    """Read-only view of one request: method, headers and a size-capped body (its Host is the
    edge's to read: janus/transports/edge.py, request_host)."""

    __slots__ = ("environ",)

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ

    @property
    def method(self) -> str:
        return self.environ["REQUEST_METHOD"]

    def header(self, name: str) -> str | None:
        key = name.upper().replace("-", "_")
        return self.environ.get(key if key in _UNPREFIXED else "HTTP_" + key)

    @property
    def mimetype(self) -> str:
        return (self.environ.get("CONTENT_TYPE") or "").split(";", 1)[0].strip().lower()

    def read_body(self, limit: int) -> bytes:
        """The whole body; BodyTooLarge past `limit` bytes (declared or, when chunked, actual)."""
        stream = self.environ["wsgi.input"]
        declared = self.environ.get("CONTENT_LENGTH")
        if declared:
            try:
                length = int(declared)
            except ValueError:
                raise BodyTooLarge from None  # unparseable: refuse rather than guess
            if length > limit:
                raise BodyTooLarge
            return stream.read(length) if length > 0 else b""
        if (
            not self.environ.get("wsgi.input_terminated")
            and "chunked" not in (self.environ.get("HTTP_TRANSFER_ENCODING") or "").lower()
        ):
            return b""  # no length and not chunked: HTTP says there is no body
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = stream.read(min(_READ_CHUNK, limit + 1 - size))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge


class HttpResponse:
    """A response as a WSGI application: a status, headers and bytes or a stream of chunks."""

    __slots__ = ("status", "headers", "body")

    def __init__(
        self,
        status: int = 200,
        body: bytes | str | Iterable[str | bytes] = b"",
        headers: list[tuple[str, str]] | None = None,
        content_type: str | None = None,
    ) -> None:
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.headers = list(headers or ())
        if content_type is not None:
            self.headers.append(("Content-Type", content_type))

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((value for key, value in self.headers if key.lower() == lowered), None)

    def __call__(self, environ: dict[str, Any], start_response) -> Iterable[bytes]:
        status_line = _STATUS_LINES.get(self.status) or f"{self.status} Unknown"
        if isinstance(self.body, bytes):
            body = b"" if self.status in _BODYLESS else self.body
            start_response(status_line, [*self.headers, ("Content-Length", str(len(body)))])
            return [body] if environ.get("REQUEST_METHOD") != "HEAD" else []
        start_response(status_line, self.headers)
        return _Encoded(iter(self.body))


class _Encoded:
    """A stream of str/bytes chunks as bytes; close() reaches the producing generator, so a
    client that hangs up ends the stream's cleanup (finally blocks) at once."""

    __slots__ = ("_chunks",)

    def __init__(self, chunks: Iterator[str | bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> _Encoded:
        return self

    def __next__(self) -> bytes:
        chunk = next(self._chunks)
        return chunk.encode("utf-8") if isinstance(chunk, str) else chunk

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
