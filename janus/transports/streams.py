"""Long-lived streams this process holds open, and what they must hear about.

A stream learns two things from outside its request: the catalog changed (so
it may owe its client `notifications/tools/list_changed`) and the worker is
shutting down (so it ends cleanly instead of being cut off). One watcher per
process polls the catalog cache (itself throttled to one cheap query per
CATALOG_REFRESH_SECONDS) only while at least one stream is open; the same
watcher checks, once per keep-alive interval and in one query for all of them,
that the sessions of this process's session-bound streams are still live, so
a DELETE served by another worker or replica ends them without each idle
stream reading the database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from janus.gateway.catalog import Catalog, Principal
from janus.mcp import jsonrpc
from janus.mcp.server import TOOLS_LIST_CHANGED

log = logging.getLogger(__name__)

CATALOG_CHANGED = "\x00catalog"  # markers: never valid JSON, so never confused with a message
SHUTDOWN = "\x00shutdown"

Notify = Callable[[str], object]  # what it returns is ignored
LiveSessions = Callable[[Iterable[str]], set]  # the given session ids that are still live


class LocalStreams:
    def __init__(
        self,
        catalog: Catalog,
        refresh_seconds: float,
        *,
        live_sessions: LiveSessions | None = None,
        session_check_seconds: float = 15.0,
    ) -> None:
        self._catalog = catalog
        self._refresh = max(0.05, refresh_seconds)
        self._live_sessions = live_sessions
        self._session_check = max(self._refresh, session_check_seconds)
        self._streams: dict[object, Notify] = {}
        self._bound: dict[object, str] = {}  # stream key -> the session it ends with
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._watcher: threading.Thread | None = None
        self.shutting_down = threading.Event()

    def open(self, key: object, notify: Notify, *, session_id: str | None = None) -> None:
        """Register a stream; with `session_id` it gets SHUTDOWN once that session has ended anywhere."""
        with self._lock:
            self._streams[key] = notify
            if session_id is not None:
                self._bound[key] = session_id
            if self._watcher is None or not self._watcher.is_alive():
                self._watcher = threading.Thread(target=self._watch, name="janus-catalog-watch", daemon=True)
                self._watcher.start()
            self._wake.notify_all()

    def close(self, key: object) -> None:
        with self._lock:
            self._streams.pop(key, None)
            self._bound.pop(key, None)

    def end_session(self, session_id: str) -> None:
        """End this process's streams bound to a session (a DELETE served here)."""
        self._end_streams_of(lambda bound_to: bound_to == session_id)

    def count(self) -> int:
        return len(self._streams)

    def shutdown(self) -> None:
        """End every stream (SIGTERM): each writes its last bytes and returns."""
        self.shutting_down.set()
        for notify in self._snapshot():
            notify(SHUTDOWN)

    def _snapshot(self) -> list[Notify]:
        with self._lock:
            return list(self._streams.values())

    def _end_streams_of(self, ended: Callable[[str], bool]) -> None:
        with self._lock:
            matching = [self._streams[key] for key, session_id in self._bound.items() if ended(session_id)]
        for notify in matching:
            notify(SHUTDOWN)

    def _check_sessions(self) -> None:
        """A DELETE served by another worker or replica: one query for every bound stream here."""
        with self._lock:
            session_ids = set(self._bound.values())
        if not session_ids or self._live_sessions is None:
            return
        try:
            live = self._live_sessions(session_ids)
        except Exception:
            log.warning("session check failed; streams stay open until the next one", exc_info=True)
            return
        self._end_streams_of(lambda session_id: session_id not in live)

    def _watch(self) -> None:
        version: int | None = None
        next_session_check = time.monotonic() + self._session_check
        while not self.shutting_down.is_set():
            with self._lock:
                if not self._streams:
                    self._wake.wait(self._refresh)
                    if not self._streams:
                        continue
            current: int | None
            try:
                current = self._catalog.current().version
            except Exception:
                log.warning("catalog watch failed", exc_info=True)
                current = version
            if version is not None and current != version:
                for notify in self._snapshot():
                    notify(CATALOG_CHANGED)
            version = current
            if time.monotonic() >= next_session_check:
                self._check_sessions()
                next_session_check = time.monotonic() + self._session_check
            self.shutting_down.wait(self._refresh)


class ListChangedTracker:
    """Decides, per stream, whether a catalog change altered what its caller may see."""

    def __init__(self, catalog: Catalog, principal: Principal, extra_meta: dict | None = None) -> None:
        self._catalog = catalog
        self._principal = principal
        self._extra_meta = extra_meta
        # The baseline must be the catalogue as it is now, not this process's cached copy (up to
        # CATALOG_REFRESH_SECONDS old): the client may already have listed a newer one from another
        # worker, and a change back to the stale copy would then go unreported. One probe per stream.
        snapshot = catalog.refresh()
        self._fingerprint = snapshot.listing(snapshot.scopes_for(principal)).fingerprint

    def _current(self) -> str:
        snapshot = self._catalog.current()
        return snapshot.listing(snapshot.scopes_for(self._principal)).fingerprint

    def notification(self) -> dict | None:
        fingerprint = self._current()
        if fingerprint == self._fingerprint:
            return None
        self._fingerprint = fingerprint
        params = {"_meta": dict(self._extra_meta)} if self._extra_meta else None
        return jsonrpc.notification(TOOLS_LIST_CHANGED, params)
