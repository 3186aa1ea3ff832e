"""The cancellation signal of one request.

Like `threading.Event` (`set`, `is_set`, `wait`), plus callbacks that run the
moment it is set: whoever is blocked on something other than this signal (an
upstream socket, say) registers how to stop that wait. Set at most once.

One is made for every request, and almost none is ever set: it costs a small
object and nothing more until someone waits on it or registers a callback.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger("janus.mcp")

Callback = Callable[[], None]

# One lock for every signal: each holds it for a few list operations, never across a call or a wait.
_LOCK = threading.Lock()


class CancelSignal:
    __slots__ = ("_set", "_event", "_callbacks")

    def __init__(self) -> None:
        self._set = False
        self._event: threading.Event | None = None  # made by the first wait()
        self._callbacks: list[Callback] | None = None

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        with _LOCK:
            if self._set:
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return event.wait(timeout)

    def set(self) -> None:
        """Cancel: wake waiters, then run each registered callback once (in the caller's thread)."""
        with _LOCK:
            if self._set:
                return
            self._set = True
            event, callbacks = self._event, self._callbacks
            self._callbacks = None
        if event is not None:
            event.set()
        for callback in callbacks or ():
            try:
                callback()
            except Exception:
                # One failing stop must not keep the others from running; the canceller has nobody to tell.
                logger.exception("a cancellation callback failed")

    def on_cancel(self, callback: Callback) -> Callback:
        """Run `callback` when the signal is set (at once if it already is); returns its remover."""
        with _LOCK:
            if not self._set:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(callback)
                return lambda: self._remove(callback)
        callback()
        return _nothing

    def _remove(self, callback: Callback) -> None:
        with _LOCK:
            if self._callbacks is not None:
                try:
                    self._callbacks.remove(callback)
                except ValueError:
                    pass  # removed before


def _nothing() -> None:
    return None
