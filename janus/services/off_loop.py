"""Short CPU-heavy work of a request (a password hash) done off the gevent loop, so the worker's other
requests — tool calls above all — keep being served meanwhile. Work of seconds (an OpenAPI import) goes to a
child process instead (janus.services.off_process): a thread still shares the interpreter's lock.

Under gevent a greenlet computing stops every other greenlet of its worker until it is done: a 0.2 s
scrypt would be added to every call in flight on that worker. A small pool of real threads runs the work
instead; the interpreter then hands the GIL to the loop's thread every millisecond or so
(sys.getswitchinterval), so calls are slowed, not stopped. Each purpose has its own pool with its own bound (the hub's pool also resolves DNS for upstream
calls). Without gevent (stdio, CLI, tests, `flask run`) the work runs in the caller's thread.

Only plain work belongs here: nothing that uses the Flask app, the database session or a gevent lock.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
SWITCH_INTERVAL = 0.001  # seconds: how long a computing thread may keep the GIL from the loop


def gevent_active() -> bool:
    """True in a gunicorn gevent worker (monkey-patched), False in stdio, CLI and test processes."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("socket")


class OffLoop:
    """`off_loop(fn, *args)`: fn(*args) in one of `threads` real threads under gevent, here otherwise."""

    def __init__(self, threads: int) -> None:
        self._threads = threads
        self._pool: Any = None
        self._pid = 0
        self._lock = threading.Lock()

    def __call__(self, fn: Callable[..., T], *args: Any) -> T:
        if not gevent_active():
            return fn(*args)
        if self._pool is None or self._pid != os.getpid():  # a forked process has the object, not the threads
            with self._lock:
                if self._pool is None or self._pid != os.getpid():
                    from gevent.threadpool import ThreadPool

                    # A thread computing holds the GIL until the interpreter asks it to let go, every
                    # switch interval (5 ms by default): each time a call of the loop wakes up it may wait
                    # that long. 1 ms keeps the loop's calls nearly unslowed (GitHub's import, when it ran here: p99
                    # 3.5x at rest at 5 ms); threads that do not compute never notice.
                    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
                    self._pool, self._pid = ThreadPool(self._threads), os.getpid()
        return self._pool.apply(fn, args)
