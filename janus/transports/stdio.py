"""MCP over stdio: newline-delimited JSON-RPC on stdin/stdout.

Lifecycle messages, `ping` and cancellations are handled in order on the
reader thread; everything else runs on a small pool so a slow tool never
blocks `ping` or another call. stdout carries protocol messages only: the
process's fd 1 is pointed at stderr while serving, so a stray print cannot
corrupt the stream.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

from janus.gateway.catalog import Principal
from janus.mcp import jsonrpc
from janus.mcp.errors import McpError
from janus.mcp.server import McpServer, Session

log = logging.getLogger(__name__)

ENCODING = "utf-8"
WORKERS = 16  # calls running at once
MAX_QUEUED = 256  # beyond this the reader stops reading stdin: backpressure instead of unbounded memory
# Handled inline, in arrival order: they change session state later requests rely on, or must never queue.
_INLINE_METHODS = frozenset({"initialize", "notifications/initialized", "notifications/cancelled", "ping"})

class TokenRejected(Exception):
    """MCP_GATEWAY_TOKEN is unknown, disabled or expired."""


def check_token(backend, token: str | None) -> Principal:
    """Fail closed before serving anything when a token is given but not valid now."""
    principal = Principal(token_hash=backend.catalog.hash_token(token) if token else None, transport="stdio")
    if token:
        record = backend.catalog.current().token(principal)
        if record is None:
            raise TokenRejected("MCP_GATEWAY_TOKEN is not a known client token")
        if not record.enabled:
            raise TokenRejected(f"MCP_GATEWAY_TOKEN ({record.name}) is disabled")
        if not record.is_active():
            raise TokenRejected(f"MCP_GATEWAY_TOKEN ({record.name}) has expired")
    return principal


class StdioServer:
    def __init__(self, server: McpServer, principal: Principal, stdin: BinaryIO, stdout: BinaryIO) -> None:
        self._server = server
        self._principal = principal
        self._stdin = stdin
        self._stdout = stdout
        self._session = Session()
        self._write_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_QUEUED)
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="janus-stdio")

    def serve(self) -> None:
        try:
            for raw in self._stdin:
                line = raw.strip()
                if line:
                    self._dispatch(line)
            log.info("stdin closed; finishing %d request(s) in flight", len(self._session.in_flight()))
        finally:
            # EOF (or SIGTERM): finish what is in flight, answer it, then return.
            self._pool.shutdown(wait=True)

    def _dispatch(self, line: bytes) -> None:
        try:
            message = jsonrpc.parse(line)
        except McpError as error:
            self._write(jsonrpc.error_response(None, error.code, error.message))
            return
        method = message.get("method") if isinstance(message, dict) else None
        if method in _INLINE_METHODS:
            self._respond(message)
            return
        request_id = message.get("id") if isinstance(message, dict) else None
        queued = threading.Event()
        if jsonrpc.is_valid_id(request_id):
            # Registered now, not when a worker picks it up, so a cancel for a queued call is honoured.
            self._session.track(request_id, queued)
        self._slots.acquire()
        self._pool.submit(self._run_queued, message, request_id, queued)

    def _run_queued(self, message: object, request_id: object, queued: threading.Event) -> None:
        try:
            if queued.is_set():
                return  # cancelled before it started: no upstream call, no response
            self._respond(message, dropped=queued)
        finally:
            if jsonrpc.is_valid_id(request_id):
                self._session.untrack(request_id, queued)
            self._slots.release()

    def _respond(self, message: object, dropped: threading.Event | None = None) -> None:
        try:
            response = self._server.handle(message, session=self._session, caller=self._principal)
        except Exception:  # the core answers errors itself; this is a last line of defence
            log.exception("unexpected failure handling a stdio message")
            return
        if response is not None and not (dropped is not None and dropped.is_set()):
            self._write(response)

    def _write(self, response: dict | list) -> None:
        try:
            # backslashreplace: a lone surrogate echoed back (say, in an id) leaves as its JSON escape, not a crash.
            data = jsonrpc.dumps(response).encode(ENCODING, "backslashreplace") + b"\n"
            with self._write_lock:
                self._stdout.write(data)
                self._stdout.flush()
        except Exception:
            log.exception("could not write a response to stdout")


def run_stdio(app, token: str | None) -> int:
    """Serve MCP on this process's stdin/stdout until EOF; returns the exit status."""
    from janus.services.runtime import get_runtime
    from janus.transports.mcp_server import build_server

    runtime = get_runtime(app)
    try:
        principal = check_token(runtime.backend, token)
    except TokenRejected as exc:
        print(f"mcp-gateway: {exc}; refusing to serve.", file=sys.stderr, flush=True)
        return 2
    server = build_server(runtime.backend, app.config["TOOLS_PAGE_SIZE"], record=runtime.audit.record)
    stdout = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    # Clients stop servers with SIGTERM shortly after closing stdin; unwind like EOF so
    # calls in flight finish and their audit rows are written.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        StdioServer(server, principal, sys.stdin.buffer, stdout).serve()
    finally:
        runtime.audit.flush()
        stdout.close()
    return 0
