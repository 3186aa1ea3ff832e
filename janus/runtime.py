"""The per-process gateway runtime, wired here: catalog cache, executor, audit writer, the admin tools.

It sits between the adapters (transports, portal, admin_api) and the use cases: it builds the tool
backend from janus.gateway and janus.services, with the built-in admin tools (services.admin_tools),
which hold the Flask app to run the admin services in its context. The services never import it: a
use case that needs the backend, the executor or the catalog is handed it by its caller.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from flask import Flask, current_app

from janus.config import check_spool_dir
from janus.extensions import db
from janus.gateway import tracing
from janus.gateway.catalog import Catalog
from janus.gateway.tool_backend import GatewayBackend
from janus.services.admin_tools import AdminTools
from janus.services.audit import AuditWriter
from janus.services.catalog_loader import catalog_version, load_changes, load_snapshot
from janus.services.token_key import server_key
from janus.vault.cache import SecretCache
from janus.version import __version__

if TYPE_CHECKING:  # imported only when AUDIT_RETENTION_DAYS is set
    from janus.services.audit_pruner import Pruner

log = logging.getLogger(__name__)
_ALL: weakref.WeakSet[Runtime] = weakref.WeakSet()
_BUILD_LOCK = threading.Lock()  # one build per process even when requests arrive together


@dataclass(eq=False)
class Runtime:
    catalog: Catalog
    audit: AuditWriter
    backend: GatewayBackend
    secrets: SecretCache | None = None
    pruner: Pruner | None = None  # AUDIT_RETENTION_DAYS set, in a server process

    def forget_secret(self, key: str) -> None:
        """A secret was set or deleted through Janus: stop serving the cached value now."""
        if self.secrets is not None:
            self.secrets.forget(key)

    def close(self) -> None:
        self.catalog.stop_refresher()
        self.audit.close()
        self.backend.close()
        if self.secrets is not None:
            self.secrets.clear()
        if self.pruner is not None:
            self.pruner.close()


def get_runtime(app: Flask) -> Runtime:
    """One runtime per app and process, built on first use (inside an app context).

    Built under a lock: building reads the database (a greenlet switch under gevent), and two requests
    arriving together on a fresh worker would otherwise each build one (two audit writers, two pools).
    """
    return once_per_app(app, "janus.runtime", _BUILD_LOCK, _build_runtime)


T = TypeVar("T")


def once_per_app(app: Flask, key: str, lock: threading.Lock, build: Callable[[Flask], T]) -> T:
    """`app.extensions[key]`, built by `build(app)` (which stores it there) the first time, under `lock`.

    The check before the lock keeps the common case (already built) free of any locking."""
    found: T | None = app.extensions.get(key)
    if found is not None:
        return found
    with lock:
        found = app.extensions.get(key)
        if found is None:
            found = build(app)
    return found


def _build_runtime(app: Flask) -> Runtime:
    with app.app_context():
        engine = db.engine
    catalog = Catalog(
        load=lambda: load_snapshot(engine),
        probe=lambda: catalog_version(engine),
        refresh_seconds=app.config["CATALOG_REFRESH_SECONDS"],
        token_key=server_key(app),  # resolved once per process, before the first request
        update=lambda snapshot: load_changes(engine, snapshot),
    )
    if _refresh_in_background:
        catalog.start_refresher()
    secrets = _secret_cache(app)
    tracing.configure()  # OTEL_EXPORTER_OTLP_ENDPOINT: the SDK, once per process (after gunicorn's fork)

    def make_executor():
        from janus.gateway.egress import EgressPolicy
        from janus.gateway.executor import Executor

        return Executor(
            get_secret=secrets.get,
            max_response_bytes=app.config["MAX_RESPONSE_BYTES"],
            user_agent=f"Janus/{__version__}",
            egress=EgressPolicy(app.config.get("EGRESS_ALLOWLIST") or ()),
            redaction=bool(app.config.get("REDACTION_ENABLED")),
        )

    check_spool_dir(app.config["AUDIT_SPOOL_DIR"])
    audit = AuditWriter(engine, app.config["AUDIT_SPOOL_DIR"])
    audit.start()  # opens this process's spool and adopts those of dead processes (a SIGKILLed worker)
    backend = GatewayBackend(
        catalog,
        make_executor,
        audit.record,
        builtins=AdminTools(app),
        pattern_budget=float(app.config.get("SCHEMA_PATTERN_BUDGET_SECONDS", 0.1)),
    )
    runtime = Runtime(catalog, audit, backend, secrets)
    if app.config.get("AUDIT_RETENTION_DAYS") and app.config.get("SERVE_HTTP"):
        from janus.services.audit_pruner import Pruner

        runtime.pruner = Pruner(app).start()
    app.extensions["janus.runtime"] = runtime
    _ALL.add(runtime)
    atexit.register(audit.flush, 10.0, through_outage=False)  # spooled rows survive the exit anyway
    return runtime


_refresh_in_background = False


def refresh_catalogs_in_background() -> None:
    """In a server worker (gunicorn's post_worker_init): every catalog of this process, built now or
    later, refreshes from a greenlet of its own, so no tool call ever waits for a catalogue check.
    Not in stdio, CLI or test processes, which keep the simpler refresh-on-access."""
    global _refresh_in_background
    _refresh_in_background = True
    for runtime in list(_ALL):
        runtime.catalog.start_refresher()


def current_runtime() -> Runtime:
    """The runtime of the app handling this request (or CLI command)."""
    return get_runtime(current_app._get_current_object())  # type: ignore[attr-defined]  # LocalProxy method


def _secret_getter(app: Flask):
    """The vault seam: connections with an auth type fetch their secret here at call time."""

    def get_secret(ref: str) -> str:
        from janus.vault import app_vault

        return app_vault(app).get(ref)

    return get_secret


def _secret_cache(app: Flask) -> SecretCache:
    """The executor reads secrets through this cache: SECRET_CACHE_TTL bounds how long a value
    rotated outside Janus may still be used; changes made through Janus call forget_secret."""
    return SecretCache(_secret_getter(app), ttl=float(app.config.get("SECRET_CACHE_TTL", 30.0)))


def flush_all(timeout: float = 20.0) -> None:
    """Commit every queued audit row of this process (worker exit, shutdown)."""
    for runtime in list(_ALL):
        # Not through a database outage: the rows are spooled on disk and adopted by the next process.
        if not runtime.audit.flush(timeout, through_outage=False):
            log.error("audit rows not yet in the database at exit; they stay in the spool %s", runtime.audit.spool_dir)
    tracing.flush(min(timeout, 5.0))  # spans still queued for export; nothing when tracing is off
