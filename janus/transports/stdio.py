"""MCP over stdio: newline-delimited JSON-RPC on stdin/stdout.

Lifecycle messages are handled in order on the reader thread; everything else
runs on a small pool so a slow tool never blocks `ping` or another call.
stdout carries protocol messages only: the process's fd 1 is pointed at
stderr while serving, so a stray print cannot corrupt the stream.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

from janus.gateway.catalog import Principal, hash_token
from janus.mcp.server import McpServer, Session

log = logging.getLogger(__name__)

ENCODING = "utf-8"
MAX_IN_FLIGHT = 16
# Handled inline, in arrival order: they change session state later requests rely on.
_INLINE_METHODS = frozenset({"initialize", "notifications/initialized", "notifications/cancelled"})

INSTRUCTIONS = (
    "Janus exposes registered REST APIs as tools. Tool names start with their API's prefix; "
    "call tools/list to see the tools this client may use."
)


class TokenRejected(Exception):
    """MCP_GATEWAY_TOKEN is unknown, disabled or expired."""


def check_token(backend, token: str | None) -> Principal:
    """Fail closed before serving anything when a token is given but not valid now."""
    principal = Principal(token_hash=hash_token(token) if token else None, transport="stdio")
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
        self._pool = ThreadPoolExecutor(max_workers=MAX_IN_FLIGHT, thread_name_prefix="janus-stdio")

    def serve(self) -> None:
        try:
            for raw in self._stdin:
                line = raw.strip()
                if line:
                    self._dispatch(line)
        finally:
            # EOF: finish what is in flight, answer it, then return.
            self._pool.shutdown(wait=True)

    def _dispatch(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            self._write(self._server.handle_raw(line, session=self._session, caller=self._principal))
            return
        if isinstance(message, dict) and message.get("method") in _INLINE_METHODS:
            self._respond(message)
        else:
            self._pool.submit(self._respond, message)

    def _respond(self, message: object) -> None:
        try:
            response = self._server.handle(message, session=self._session, caller=self._principal)
        except Exception:  # the core answers errors itself; this is a last line of defence
            log.exception("unexpected failure handling a stdio message")
            return
        if response is not None:
            self._write(json.dumps(response, separators=(",", ":"), ensure_ascii=False))

    def _write(self, text: str | None) -> None:
        if text is None:
            return
        data = text.encode(ENCODING) + b"\n"
        with self._write_lock:
            self._stdout.write(data)
            self._stdout.flush()


def run_stdio(app, token: str | None) -> int:
    """Serve MCP on this process's stdin/stdout until EOF; returns the exit status."""
    from janus.services.runtime import get_runtime
    from janus.version import __version__

    runtime = get_runtime(app)
    try:
        principal = check_token(runtime.backend, token)
    except TokenRejected as exc:
        print(f"mcp-gateway: {exc}; refusing to serve.", file=sys.stderr, flush=True)
        return 2
    server = McpServer(
        runtime.backend, name="janus", version=__version__, instructions=INSTRUCTIONS,
        page_size=app.config["TOOLS_PAGE_SIZE"],
    )
    stdout = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    try:
        StdioServer(server, principal, sys.stdin.buffer, stdout).serve()
    finally:
        runtime.audit.flush()
        stdout.close()
    return 0
