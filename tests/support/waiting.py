from __future__ import annotations

import atexit
import socket
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02, what: str = "condition") -> T:
    """Poll until predicate() is truthy; never a blind sleep."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last failure
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (f": {last_exc!r}" if last_exc else ""))


_refusing: socket.socket | None = None
_refusing_lock = threading.Lock()


def refused_port() -> int:
    """A port on 127.0.0.1 where every connection is refused, for as long as this test process lives.

    A socket bound there and never listening (Linux answers a connection to it with a reset), kept open:
    a port bound, released and then named in a test could meanwhile be taken by another process (another
    xdist worker's server), which would answer.
    """
    global _refusing
    with _refusing_lock:
        if _refusing is None:
            _refusing = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            _refusing.bind(("127.0.0.1", 0))
            atexit.register(_refusing.close)
        return _refusing.getsockname()[1]
