"""Per-process state of the HTTP transports, built on first use."""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from flask import Flask, current_app

from janus.extensions import db
from janus.mcp.server import McpServer
from janus.runtime import Runtime, get_runtime, once_per_app
from janus.services.sessions import SessionStore
from janus.transports.cancellation import InFlightCalls
from janus.transports.mcp_server import build_server
from janus.transports.rate_limits import RateLimits, rate_limits_for
from janus.transports.streams import LocalStreams

if TYPE_CHECKING:
    from janus.transports.bus import Bus

log = logging.getLogger(__name__)
_ALL: weakref.WeakSet[HttpRuntime] = weakref.WeakSet()
_BUILD_LOCK = threading.Lock()  # one build per process even when requests arrive together


@dataclass(eq=False)
class HttpRuntime:
    runtime: Runtime
    server: McpServer
    sessions: SessionStore
    streams: LocalStreams
    database_uri: str
    keepalive_seconds: float
    progress_seconds: float
    # What legacy /sse serves: the same core, but it advertises no `tools.listChanged` to the
    # 2026-07-28 era, whose change notifications travel only on a `subscriptions/listen` stream,
    # a method of the Streamable HTTP transport that /sse does not serve (issue 11, item 3).
    sse_server: McpServer
    # Request-checking settings, read once: the /mcp endpoint runs outside Flask's request context.
    # (Origin/Host and the public URL of 401s are the edge's: janus/transports/edge.py, edge_for.)
    max_request_bytes: int = 4_194_304
    # Rate limits and the concurrency cap, one per process (janus/transports/rate_limits.py).
    limits: RateLimits | None = None
    # Requests of shared sessions being served here, for cancellations from any process (cancellation.py).
    calls: InFlightCalls = field(init=False, repr=False)
    _bus: Bus | None = field(default=None, repr=False)
    _bus_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.calls = InFlightCalls(lambda: self.bus)

    @property
    def catalog(self):
        return self.runtime.catalog

    @property
    def bus(self) -> Bus:
        """The cross-worker carrier for legacy SSE, started on first use."""
        if self._bus is None:
            with self._bus_lock:
                if self._bus is None:
                    from janus.transports.bus import create_bus

                    bus = create_bus(self.database_uri)
                    bus.start()
                    self._bus = bus
        return self._bus

    def shutdown(self) -> None:
        self.streams.shutdown()

    def close(self) -> None:
        self.streams.shutdown()
        if self._bus is not None:
            self._bus.close()


def http_runtime(app: Flask | None = None) -> HttpRuntime:
    """The HTTP transports' state for this app and process, built once (under a lock, as the runtime is)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]  # LocalProxy method
    return once_per_app(app, "janus.http", _BUILD_LOCK, _build)


def _build(app: Flask) -> HttpRuntime:
    runtime = get_runtime(app)
    limits = rate_limits_for(app)
    with app.app_context():
        engine = db.engine
    sessions = SessionStore(engine, idle_timeout=timedelta(seconds=app.config["SESSION_IDLE_SECONDS"]))
    rt = HttpRuntime(
        runtime=runtime,
        server=build_server(
            runtime.backend,
            app.config["TOOLS_PAGE_SIZE"],
            record=runtime.audit.record,
            stateless_list_changed=True,
            slots=limits.slots,
        ),
        sse_server=build_server(
            runtime.backend,
            app.config["TOOLS_PAGE_SIZE"],
            record=runtime.audit.record,
            stateless_list_changed=False,
            slots=limits.slots,
        ),
        sessions=sessions,
        streams=LocalStreams(
            runtime.catalog,
            app.config["CATALOG_REFRESH_SECONDS"],
            live_sessions=sessions.live_ids,
            session_check_seconds=app.config["SSE_KEEPALIVE_SECONDS"],
        ),
        database_uri=app.config["SQLALCHEMY_DATABASE_URI"],
        keepalive_seconds=app.config["SSE_KEEPALIVE_SECONDS"],
        progress_seconds=app.config["PROGRESS_INTERVAL_SECONDS"],
        max_request_bytes=app.config["MAX_REQUEST_BYTES"],
        limits=limits,
    )
    app.extensions["janus.http"] = rt
    _ALL.add(rt)
    rt.calls.connect()
    return rt


def shutdown_all() -> None:
    """SIGTERM: end every open stream of this process so clients see a clean close."""
    for rt in list(_ALL):
        try:
            rt.shutdown()
        except Exception:
            log.exception("could not end streams cleanly")
