"""Notice that an HTTP client closed its connection while its request is still being served.

The 2026-07-28 Streamable HTTP binding makes closing the response the way a
client cancels a request, and Janus treats closing a call's progress stream the
same way in both eras. A WSGI application learns of a closed connection only
when it next writes; a call waiting on a slow upstream writes nothing for a
long time, so the client's socket is watched instead: it turns readable, and a
peek that reads end-of-stream means the client is gone.

Under gunicorn's gevent worker (the one Janus runs) the watch is an event-loop
I/O watcher on the client socket: no thread, no greenlet, nothing polled. Any
other server: no watch, and the closed connection is noticed at the next write.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

log = logging.getLogger(__name__)

_READ = 1  # libev's EV_READ


def _nothing() -> None:
    return None


def _event_loop():
    """gevent's loop when this process runs under gevent's monkey-patching, else None."""
    try:
        from gevent import get_hub, monkey
    except ImportError:
        return None
    return get_hub().loop if monkey.is_module_patched("socket") else None


def _spawn(function: Callable[[], None]) -> None:
    import gevent

    gevent.spawn(function)


def watch(environ: dict, on_disconnect: Callable[[], object]) -> Callable[[], None]:
    """Call `on_disconnect` once if the client closes its connection; returns the function that stops watching.

    Start it only once the request body has been read (until then the socket is readable for that reason),
    and stop it before the response is handed back (the server then reads the connection's next request).
    """
    sock = environ.get("gunicorn.socket")
    loop = _event_loop() if sock is not None else None
    if sock is None or loop is None:
        return _nothing
    try:
        fd = sock.fileno()
        watcher = loop.io(fd, _READ)
    except (OSError, ValueError):
        return _nothing

    def stop() -> None:
        watcher.stop()
        close = getattr(watcher, "close", None)
        if close is not None:
            close()

    def readable() -> None:
        # Runs in the event loop: it must not block, so the peek uses a raw, non-waiting socket.
        peek = socket.socket(fileno=fd)
        try:
            data = peek.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return  # woken for nothing: keep watching
        except OSError:
            data = b""  # reset by the peer: gone as well
        finally:
            peek.detach()  # the descriptor stays the server's
        watcher.stop()
        if data:
            return  # the client sent its next request early: it is still there
        _spawn(_guarded)  # in a greenlet of its own: a callback of the loop itself must never block

    def _guarded() -> None:
        try:
            on_disconnect()
        except Exception:
            log.exception("handling a client disconnect failed")

    watcher.start(readable)
    return stop
