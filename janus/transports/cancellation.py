"""Cancellation of requests on shared sessions, wherever they run.

A handshake-era Streamable HTTP session and a legacy SSE session are served by
every worker and replica: the request and the client's `notifications/cancelled`
for it (or the session's DELETE, or the end of its SSE stream) may land on
different processes. Each process keeps the requests it is serving, by session
and request id (`InFlightCalls`); a cancellation is applied here and broadcast
on the bus, and every process cancels what it holds.

A cancellation may overtake its request (sent on another connection, served by a
faster worker): it is remembered for a while, and the request is cancelled the
moment it registers. Clients never reuse a request id within a session (the
specification forbids it), so a remembered cancellation cannot hit a new request.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from janus.mcp import jsonrpc
from janus.mcp.cancellation import CancelSignal
from janus.mcp.session import Session

log = logging.getLogger(__name__)

TOPIC = "cancel"
EARLY_SECONDS = 60.0  # how long a cancellation waits for a request it overtook
EARLY_MAX = 10_000  # bounded against a client sending cancellations for ids it never used
_ALL = ("*", None)  # the request key standing for every request of a session

Key = tuple[str, Any]


def _key(request_id: object) -> Key:
    # 1 and "1" are different JSON-RPC ids (as in Session).
    return (type(request_id).__name__, request_id)


class InFlightCalls:
    """This process's requests on shared sessions, reachable by a cancellation from any process."""

    def __init__(self, bus: Callable[[], Any]) -> None:
        self._bus_of = bus  # the bus starts on first use: a worker that serves no session never opens it
        self._bus: Any = None
        self._calls: dict[tuple[str, Key], list[CancelSignal]] = {}
        self._early: OrderedDict[tuple[str, Key], float] = OrderedDict()
        self._lock = threading.Lock()

    def session(self, session_id: str, **state: Any) -> SharedSession:
        """A Session for one request of shared session `session_id` (handshake fields in `state`)."""
        return SharedSession(session_id=session_id, calls=self, **state)

    def connect(self) -> bool:
        """Start hearing cancellations from other processes (done when the HTTP transports start, so a
        cancellation that overtakes its request is remembered here too). False when the bus is unavailable."""
        try:
            self._connected()
            return True
        except Exception:
            log.warning(
                "the bus is unavailable: cancellations from other processes cannot reach requests here", exc_info=True
            )
            return False

    def _connected(self) -> Any:
        bus = self._bus
        if bus is None:
            bus = self._bus_of()
            bus.on_topic(TOPIC, self._received)
            self._bus = bus
        return bus

    def register(self, session_id: str, request_id: object, signal: CancelSignal) -> None:
        if self._bus is None:
            self.connect()  # listening before the request can be waited on
        key = (session_id, _key(request_id))
        with self._lock:
            self._calls.setdefault(key, []).append(signal)
            overtaken = self._early_hit(key) or self._early_hit((session_id, _ALL))
        if overtaken:
            signal.set()

    def unregister(self, session_id: str, request_id: object, signal: CancelSignal) -> None:
        key = (session_id, _key(request_id))
        with self._lock:
            signals = self._calls.get(key)
            if signals is None:
                return
            try:
                signals.remove(signal)
            except ValueError:
                pass
            if not signals:
                del self._calls[key]

    def cancel(self, session_id: str, request_id: object | None = None) -> None:
        """Cancel one request (or, with no id, every request) of a session, in every process."""
        message = json.dumps(
            {"session": session_id, "all": request_id is None, "request": request_id}, separators=(",", ":")
        )
        try:
            bus = self._connected()
        except Exception:
            log.warning(
                "the bus is unavailable: cancelling session %s's requests in this process only",
                session_id[:8],
                exc_info=True,
            )
            self.cancel_here(session_id, request_id)
            return
        bus.broadcast(TOPIC, message)  # this process included, before it returns

    def cancel_here(self, session_id: str, request_id: object | None) -> int:
        """Cancel in this process only; remember it if the request has not arrived yet. How many were cancelled."""
        now = time.monotonic()
        with self._lock:
            if request_id is None:
                found = [s for (sid, _), signals in self._calls.items() if sid == session_id for s in signals]
                key = (session_id, _ALL)
            else:
                key = (session_id, _key(request_id))
                found = list(self._calls.get(key, ()))
            if not found or request_id is None:
                self._remember(key, now)
        for signal in found:
            signal.set()
        return len(found)

    def _received(self, message: str) -> None:
        try:
            data = json.loads(message)
            session_id = data["session"]
            request_id = None if data.get("all") else data["request"]
            if not isinstance(session_id, str) or (request_id is not None and not jsonrpc.is_valid_id(request_id)):
                raise ValueError("bad field types")
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed cancellation on the bus")
            return
        self.cancel_here(session_id, request_id)

    def _remember(self, key: tuple[str, Key], now: float) -> None:
        # Under the lock. Oldest first: expired entries and, past the bound, the oldest go.
        self._early[key] = now + EARLY_SECONDS
        self._early.move_to_end(key)
        while self._early and (len(self._early) > EARLY_MAX or next(iter(self._early.values())) < now):
            self._early.popitem(last=False)

    def _early_hit(self, key: tuple[str, Key]) -> bool:
        # Under the lock.
        deadline = self._early.get(key)
        return deadline is not None and deadline >= time.monotonic()

    def count(self) -> int:
        with self._lock:
            return sum(len(signals) for signals in self._calls.values())


@dataclass(eq=False)
class SharedSession(Session):
    """A Session whose requests a cancellation from any process can reach (see InFlightCalls)."""

    session_id: str = ""
    calls: InFlightCalls | None = field(default=None, repr=False)

    def track(self, request_id: object, event: CancelSignal) -> None:
        super().track(request_id, event)
        if self.calls is not None:
            self.calls.register(self.session_id, request_id, event)

    def untrack(self, request_id: object, event: CancelSignal) -> None:
        super().untrack(request_id, event)
        if self.calls is not None:
            self.calls.unregister(self.session_id, request_id, event)

    def cancel(self, request_id: object) -> bool:
        # notifications/cancelled: the request may be served by any process.
        if self.calls is None:
            return super().cancel(request_id)
        self.calls.cancel(self.session_id, request_id)
        return True
