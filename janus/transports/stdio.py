"""MCP over stdio: newline-delimited JSON-RPC on stdin/stdout.

Lifecycle messages, `ping` and cancellations are handled in order on the
reader thread; everything else runs on a small pool so a slow tool never
blocks `ping` or another call. stdout carries protocol messages only: the
process's fd 1 is pointed at stderr while serving, so a stray print cannot
corrupt the stream.

Besides answers, the process writes notifications: `notifications/progress`
for a tools/call that carries a progressToken, and
`notifications/tools/list_changed` when the tools this process's token may
see change (a watcher thread polls the catalog's change counter every
CATALOG_REFRESH_SECONDS). Handshake-era clients get it once initialized, as
`tools.listChanged` in the initialize result promises; 2026-07-28 clients get
it on their `subscriptions/listen` requests, which stay open (unanswered)
until the client cancels them or the process ends. Every write is one line
under one lock, so messages never interleave.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, BinaryIO

from janus.gateway.catalog import Catalog, Principal
from janus.mcp import CancelSignal, jsonrpc, versions
from janus.mcp.errors import INVALID_PARAMS, THROTTLED, McpError
from janus.mcp.server import TOOLS_LIST_CHANGED, McpServer, Session
from janus.transports.listen import ACKNOWLEDGED, SUBSCRIPTION_ID_META_KEY
from janus.transports.progress_ticker import ProgressTicker, progress_token
from janus.transports.streams import ListChangedTracker

if TYPE_CHECKING:
    from janus.transports.rate_limits import Throttled

log = logging.getLogger(__name__)

ENCODING = "utf-8"
WORKERS = 16  # calls running at once
MAX_QUEUED = 256  # beyond this the reader stops reading stdin: backpressure instead of unbounded memory
# Handled inline, in arrival order: they change session state later requests rely on, or must never queue.
_INLINE_METHODS = frozenset({"initialize", "notifications/initialized", "notifications/cancelled", "ping"})
LISTEN = "subscriptions/listen"


def _key(request_id: object) -> tuple[str, object]:
    return (type(request_id).__name__, request_id)  # 1 and "1" are different JSON-RPC ids


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
    def __init__(
        self,
        server: McpServer,
        principal: Principal,
        stdin: BinaryIO,
        stdout: BinaryIO,
        *,
        catalog: Catalog | None = None,
        refresh_seconds: float = 0.5,
        progress_seconds: float = 3.0,
        throttle: Callable[[object], Throttled | None] | None = None,
    ) -> None:
        """`catalog`: watch it and send list_changed (None: no watcher, no listen streams).

        `progress_seconds`: the interval of progress notifications (0 or less: none).
        """
        self._server = server
        self._throttle = throttle  # the token's rate limit (janus/transports/rate_limits.py); None: none
        self._principal = principal
        self._stdin = stdin
        self._stdout = stdout
        self._session = Session()
        self._write_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_QUEUED)
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="janus-stdio")
        self._catalog = catalog
        self._refresh = max(0.05, refresh_seconds)
        self._progress = progress_seconds
        self._stopping = threading.Event()
        self._listeners_lock = threading.Lock()
        # Open listen requests (held like /mcp holds its stream) -> (their `_meta`, toolsListChanged honoured).
        self._listeners: dict[tuple[str, object], tuple[dict, bool]] = {}
        self._tickers: dict[tuple[str, object], ProgressTicker] = {}  # calls sending progress, by request id

    def serve(self) -> None:
        watcher = None
        if self._catalog is not None:
            # Baseline taken before reading stdin, so a change while the client starts up is not lost.
            tracker = ListChangedTracker(self._catalog, self._principal)
            watcher = threading.Thread(target=self._watch, args=(tracker,), name="janus-stdio-watch", daemon=True)
            watcher.start()
        try:
            for raw in self._stdin:
                line = raw.strip()
                if line:
                    self._dispatch(line)
            log.info("stdin closed; finishing %d request(s) in flight", len(self._session.in_flight()))
        finally:
            # EOF (or SIGTERM): finish what is in flight, answer it, then return.
            self._pool.shutdown(wait=True)
            self._stopping.set()
            if watcher is not None:
                watcher.join()
            self._end_listens()

    # -- list_changed -------------------------------------------------------

    def _watch(self, tracker: ListChangedTracker) -> None:
        while not self._stopping.wait(self._refresh):
            try:
                changed = tracker.notification() is not None
            except Exception:  # the catalog keeps serving its last snapshot; try again next tick
                log.warning("could not check the catalog for changes", exc_info=True)
                continue
            if changed:
                self._announce_list_changed()

    def _announce_list_changed(self) -> None:
        version, _, _ = self._session.snapshot()
        # Handshake era: only after `notifications/initialized`, as the lifecycle requires.
        if self._session.initialized and versions.is_handshake(version):
            self._write(jsonrpc.notification(TOOLS_LIST_CHANGED))
        with self._listeners_lock:
            metas = [meta for meta, honored in self._listeners.values() if honored]
        for meta in metas:
            self._write(jsonrpc.notification(TOOLS_LIST_CHANGED, {"_meta": dict(meta)}))

    def _listen(self, message: dict) -> None:
        """Open a 2026-07-28 `subscriptions/listen` on this connection; answered only when it ends."""
        request_id = message["id"]
        try:
            # The core's envelope checks, in its order: _meta an object, version a string and
            # supported (listen exists only in the stateless era), clientCapabilities an object.
            params = message.get("params")
            params = params if isinstance(params, dict) else {}
            meta_in = params.get("_meta")
            meta_in = {} if meta_in is None else meta_in
            if not isinstance(meta_in, dict):
                raise McpError(INVALID_PARAMS, "params._meta must be an object")
            version = meta_in.get(versions.PROTOCOL_VERSION_META_KEY)
            if version is not None and not isinstance(version, str):
                raise McpError(INVALID_PARAMS, "params._meta protocol version must be a string")
            if not versions.is_stateless(version):
                raise versions.unsupported_version_error(version)
            if not isinstance(meta_in.get(versions.CLIENT_CAPABILITIES_META_KEY), dict):
                raise McpError(INVALID_PARAMS, "params._meta clientCapabilities must be an object")
            requested = params.get("notifications")
            if not isinstance(requested, dict):
                raise McpError(INVALID_PARAMS, "subscriptions/listen needs params.notifications (an object)")
        except McpError as error:
            self._write(jsonrpc.error_response(request_id, error.code, error.message, error.data))
            return
        honored = {"toolsListChanged": True} if requested.get("toolsListChanged") is True else {}
        meta = {SUBSCRIPTION_ID_META_KEY: request_id}
        with self._listeners_lock:  # registered before the acknowledgement: no change is missed
            self._listeners[_key(request_id)] = (meta, bool(honored))
        self._write(jsonrpc.notification(ACKNOWLEDGED, {"notifications": honored, "_meta": meta}))

    def _end_listens(self) -> None:
        # A graceful end: each open listen request gets its result, so the client knows nothing was lost.
        with self._listeners_lock:
            ended, self._listeners = self._listeners, {}
        for meta, _ in ended.values():
            self._write(
                jsonrpc.result_response(meta[SUBSCRIPTION_ID_META_KEY], {"resultType": "complete", "_meta": meta})
            )

    def _cancel_streams(self, message: dict) -> None:
        """A cancelled listen gets no result; a cancelled call's progress stops now, though its upstream call runs on."""
        params = message.get("params")
        request_id = params.get("requestId") if isinstance(params, dict) else None
        if jsonrpc.is_valid_id(request_id):
            with self._listeners_lock:
                self._listeners.pop(_key(request_id), None)
                ticker = self._tickers.pop(_key(request_id), None)
            if ticker is not None:
                ticker.stop()

    def _dispatch(self, line: bytes) -> None:
        try:
            message = jsonrpc.parse(line)
        except McpError as error:
            self._write(jsonrpc.error_response(None, error.code, error.message))
            return
        throttled = self._throttle(message) if self._throttle is not None else None
        if throttled is not None and isinstance(message, dict):
            self._write(jsonrpc.error_response(message.get("id"), THROTTLED, throttled.message, throttled.data))
            return
        method = message.get("method") if isinstance(message, dict) else None
        if (
            isinstance(message, dict)
            and method == LISTEN
            and self._catalog is not None
            and jsonrpc.is_valid_id(message.get("id"))
        ):
            self._listen(message)
            return
        if isinstance(message, dict) and method == "notifications/cancelled":
            self._cancel_streams(message)
        if method in _INLINE_METHODS:
            self._respond(message)
            return
        request_id = message.get("id") if isinstance(message, dict) else None
        queued = CancelSignal()
        if jsonrpc.is_valid_id(request_id):
            # Registered now, not when a worker picks it up, so a cancel for a queued call is honoured.
            self._session.track(request_id, queued)
        self._slots.acquire()
        self._pool.submit(self._run_queued, message, request_id, queued)

    def _run_queued(self, message: object, request_id: object, queued: CancelSignal) -> None:
        try:
            if queued.is_set():
                return  # cancelled before it started: no upstream call, no response
            self._respond(message, dropped=queued)
        finally:
            if jsonrpc.is_valid_id(request_id):
                self._session.untrack(request_id, queued)
            self._slots.release()

    def _respond(self, message: object, dropped: CancelSignal | None = None) -> None:
        token = progress_token(message) if self._progress > 0 and dropped is not None else None
        ticker = ticker_key = None
        if token is not None and isinstance(message, dict):
            ticker = ProgressTicker(self._write, token, message["params"].get("name"), self._progress)
            ticker_key = _key(message["id"])
            with self._listeners_lock:  # so a notifications/cancelled can stop its ticks at once
                self._tickers[ticker_key] = ticker
            ticker.start()
        try:
            response = self._server.handle(message, session=self._session, caller=self._principal)
        except Exception:  # the core answers errors itself; this is a last line of defence
            log.exception("unexpected failure handling a stdio message")
            response = None
        finally:
            if ticker is not None and ticker_key is not None:
                with self._listeners_lock:
                    if self._tickers.get(ticker_key) is ticker:
                        del self._tickers[ticker_key]
        if response is not None and not (dropped is not None and dropped.is_set()):
            if ticker is not None:
                ticker.finish(response)  # a no-op if the cancel came too late to drop the answer
            self._write(response)
        elif ticker is not None:
            ticker.stop()  # cancelled (or no answer): no final progress either

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
    from janus.runtime import get_runtime
    from janus.transports.mcp_server import build_server
    from janus.transports.rate_limits import rate_limits_for, throttle_message

    runtime = get_runtime(app)
    try:
        principal = check_token(runtime.backend, token)
    except TokenRejected as exc:
        print(f"mcp-gateway: {exc}; refusing to serve.", file=sys.stderr, flush=True)
        return 2
    # stdio serves subscriptions/listen itself, so 2026-07-28 clients are told tools.listChanged too.
    limits = rate_limits_for(app)
    server = build_server(
        runtime.backend,
        app.config["TOOLS_PAGE_SIZE"],
        record=runtime.audit.record,
        stateless_list_changed=True,
        slots=limits.slots,
    )
    stdout = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    # Clients stop servers with SIGTERM shortly after closing stdin; unwind like EOF so
    # calls in flight finish and their audit rows are written.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        StdioServer(
            server,
            principal,
            sys.stdin.buffer,
            stdout,
            catalog=runtime.catalog,
            refresh_seconds=app.config["CATALOG_REFRESH_SECONDS"],
            progress_seconds=app.config["PROGRESS_INTERVAL_SECONDS"],
            throttle=lambda message: throttle_message(
                limits, runtime.backend, runtime.audit.record, principal, message
            ),
        ).serve()
    finally:
        runtime.audit.flush()
        stdout.close()
    return 0
