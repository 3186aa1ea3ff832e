"""Log lines: readable text by default, or with LOG_FORMAT=json one JSON object per line for log shippers.

JSON lines carry `time` (UTC, ISO 8601), `level`, `logger`, `message`, the `request_id` of the HTTP
request being served, the `trace_id` of its W3C `traceparent` header when it sent a valid one, and the
exception text as `exception`. gunicorn's error and access logs go through the same formatter
(`JsonGunicornLogger`). The request id is the caller's `X-Request-Id` when it is a plain token of at most
128 characters, else a new random one; `RequestIds` echoes it in the response's `X-Request-Id`.

Only with LOG_FORMAT=json is `RequestIds` installed: the default format costs no request anything.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REQUEST_ID_HEADER = "X-Request-Id"
# What a request id from the caller may look like: the usual UUIDs, hex, base64 and dotted ids. Anything
# else (spaces, quotes, control characters, 1 kB of junk) is replaced, so it cannot forge a log field.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
# The trace id of a W3C traceparent (janus/gateway/tracing.py validates it fully where a call uses it).
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}(?:-.*)?", re.DOTALL)

# (request id, trace id or None) of the request this greenlet or thread is serving.
_REQUEST: ContextVar[tuple[str, str | None] | None] = ContextVar("janus_request", default=None)

# Where the trace id of the call being run comes from (janus/gateway/tracing.py's, given by create_app):
# the call's own trace (its span's, or `_meta.traceparent`'s) before the request header's.
_trace_source: Callable[[], str | None] | None = None

# gunicorn's access-log atoms copied into the JSON line, under readable names.
_ACCESS_FIELDS = {"h": "remote_addr", "m": "method", "U": "path", "s": "status", "B": "bytes", "D": "duration_us"}


def request_id(header: str | None) -> str:
    """The caller's request id when it is well-formed, else a new one (32 hex digits)."""
    if header is not None and _REQUEST_ID.fullmatch(header):
        return header
    return os.urandom(16).hex()


def trace_id(traceparent: str | None) -> str | None:
    if traceparent is None:
        return None
    match = _TRACEPARENT.fullmatch(traceparent.strip(" \t"))
    if match is None or match.group(1) == "0" * 32:
        return None
    return match.group(1)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside values are escaped by JSON itself)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        current = _REQUEST.get()
        trace = _trace_source() if _trace_source is not None else None
        if current is not None:
            line["request_id"] = current[0]
            trace = trace or current[1]
        if trace is not None:
            line["trace_id"] = trace
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class _JsonAccessFormatter(JsonFormatter):
    """gunicorn's access line, plus its main atoms as fields and the response's request id."""

    def format(self, record: logging.LogRecord) -> str:
        line = json.loads(super().format(record))
        atoms = record.args if isinstance(record.args, dict) else {}
        for atom, name in _ACCESS_FIELDS.items():
            if atom in atoms:
                line[name] = atoms[atom]
        answered = atoms.get("{x-request-id}o")
        if answered and answered != "-":
            line.setdefault("request_id", answered)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(level: str, log_format: str, trace_source: Callable[[], str | None] | None = None) -> None:
    """The process's root logging: stderr only (stdout belongs to the stdio transport). `trace_source`
    tells JSON lines the trace id of the tool call being run."""
    global _trace_source
    _trace_source = trace_source
    root = logging.getLogger()
    if not root.handlers:
        stderr = logging.StreamHandler(sys.stderr)
        stderr.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
        root.addHandler(stderr)
        root.setLevel(level.upper())
    elif log_format == "json":
        for handler in root.handlers:  # gunicorn's or a test runner's: the format is still the operator's choice
            if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stderr, sys.stdout):
                handler.setFormatter(JsonFormatter())
    logging.getLogger("janus").setLevel(level.upper())
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line per plugin at INFO


class RequestIds:
    """WSGI middleware: every request gets a request id (the caller's, or a new one) that its log lines
    carry and its response echoes in X-Request-Id."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        rid = request_id(environ.get("HTTP_X_REQUEST_ID"))
        token = _REQUEST.set((rid, trace_id(environ.get("HTTP_TRACEPARENT"))))
        environ["janus.request_id"] = rid

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers = [h for h in headers if h[0].lower() != "x-request-id"]
            headers.append((REQUEST_ID_HEADER, rid))
            return (
                start_response(status, headers, exc_info) if exc_info is not None else start_response(status, headers)
            )

        try:
            body = self.app(environ, start)
        except BaseException:
            _forget(token)
            raise
        return _Answer(body, token)


def _forget(token: Any) -> None:
    try:
        _REQUEST.reset(token)
    except (ValueError, RuntimeError):  # closed from another context, or twice
        pass


class _Answer:
    """The response body, unchanged; closing it (the server does, after the last byte and the access log)
    ends the request's log context, so nothing logged later on this greenlet or thread claims its id."""

    __slots__ = ("_body", "_token")

    def __init__(self, body: Iterable[bytes], token: Any) -> None:
        self._body = body
        self._token = token

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            _forget(self._token)


def _gunicorn_logger_class() -> type:
    from gunicorn.glogging import Logger

    class JsonGunicornLogger(Logger):
        """gunicorn's logger with its handlers' lines in JSON (the handlers and targets stay gunicorn's)."""

        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            for handler in self.error_log.handlers:
                handler.setFormatter(JsonFormatter())
            for handler in self.access_log.handlers:
                handler.setFormatter(_JsonAccessFormatter())

    return JsonGunicornLogger


def gunicorn_logger_class(log_format: str) -> type | None:
    """The `logger_class` gunicorn should use for this format; None: gunicorn's own (text)."""
    return _gunicorn_logger_class() if log_format == "json" else None
