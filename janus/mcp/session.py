"""Per-connection state: the handshake outcome and the requests still in flight.

One Session lives as long as a stdio process or an HTTP session. The stdio
transport serves several requests at once in threads on the same Session, so
every read and write goes through one lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from .cancellation import CancelSignal


def _key(request_id: object) -> tuple[str, object]:
    # 1 and "1" are different JSON-RPC ids; a plain dict key would merge them.
    return (type(request_id).__name__, request_id)


@dataclass(eq=False)  # a connection is compared by identity, and stays hashable
class Session:
    """Handshake-era state of one connection, plus thread-safe cancellation bookkeeping.

    Stateless-era (2026-07-28) requests still pass through a Session when the
    transport has one, only so that `notifications/cancelled` can find them;
    they never read the handshake fields.
    """

    protocol_version: str | None = None
    client_info: dict[str, Any] | None = None
    client_capabilities: dict[str, Any] | None = None
    initialized: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)
    _in_flight: dict[tuple[str, object], CancelSignal] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def record_initialize(
        self, protocol_version: str, client_info: dict[str, Any] | None, capabilities: dict[str, Any] | None
    ) -> None:
        """Adopt the outcome of an `initialize`; a repeated one starts the handshake over."""
        with self._lock:
            self.protocol_version = protocol_version
            self.client_info = client_info
            self.client_capabilities = capabilities
            self.initialized = False

    def mark_initialized(self) -> None:
        with self._lock:
            self.initialized = True

    def snapshot(self) -> tuple[str | None, dict[str, Any] | None, dict[str, Any] | None]:
        """(protocol_version, client_info, client_capabilities), read consistently."""
        with self._lock:
            return self.protocol_version, self.client_info, self.client_capabilities

    def track(self, request_id: object, event: CancelSignal) -> None:
        """Register a request as in flight; `event` is set if the client cancels it."""
        with self._lock:
            self._in_flight[_key(request_id)] = event

    def untrack(self, request_id: object, event: CancelSignal) -> None:
        with self._lock:
            # Only remove our own entry: a client that reused an id while the first
            # request was still running must not lose the second one's registration.
            if self._in_flight.get(_key(request_id)) is event:
                del self._in_flight[_key(request_id)]

    def cancel(self, request_id: object) -> bool:
        """Cancel an in-flight request (`notifications/cancelled`); False when it is unknown or already answered.

        A transport whose requests may run in other processes overrides this to reach them.
        """
        return self.cancel_here(request_id)

    def cancel_here(self, request_id: object) -> bool:
        """Cancel a request this Session itself is serving (e.g. its HTTP response stream was closed)."""
        with self._lock:
            event = self._in_flight.get(_key(request_id))
        if event is None:
            return False
        event.set()
        return True

    def cancel_all(self) -> None:
        """Cancel everything in flight (the connection is going away)."""
        with self._lock:
            events = list(self._in_flight.values())
        for event in events:
            event.set()

    def in_flight(self) -> list[Any]:
        """Ids of the requests currently being served."""
        with self._lock:
            return [request_id for _, request_id in self._in_flight]
