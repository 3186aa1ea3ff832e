"""Stop waiting on an upstream the moment the client cancels the call.

A tool call blocks inside urllib3 on the upstream socket (for the status line,
then the body). A cancellation arrives on another thread or greenlet, so it
cannot raise into that wait; it shuts the socket down instead. The blocked read
wakes at once (end of stream), the upstream sees its connection closed, and the
executor reports `CallCancelled` rather than an upstream failure.

The socket in use is bound by the connection itself (`CancellableConnection`,
mixed into every connection class the executor's pools use) when it starts
waiting for the response: on a new connection and on a reused keep-alive one
alike. The binding travels in a context variable, per thread and per greenlet.
"""

from __future__ import annotations

import contextvars
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol


class Signal(Protocol):
    def is_set(self) -> bool: ...
    def on_cancel(self, callback: Any) -> Any: ...


class CallCancelled(Exception):
    """The client cancelled the call before its upstream answered; nothing is to be sent back."""


class _Scope:
    def __init__(self, signal: Signal) -> None:
        self.signal = signal
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self.cut_done = False

    def bind(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sock = sock
        if self.signal.is_set():
            self.cut()  # cancelled between the check before sending and this wait

    def unbind(self) -> bool:
        """Forget the socket (it goes back to the pool); True when the cancellation had already cut it."""
        with self._lock:
            self._sock = None
            return self.cut_done

    def cut(self) -> None:
        with self._lock:
            sock = self._sock
            if sock is None or self.cut_done:
                return
            self.cut_done = True
        _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    """Shut the connection down (both ways) without touching the socket object another thread reads.

    Through a duplicate of its descriptor: shutdown acts on the connection, not the descriptor, so the
    reader's blocked recv returns end-of-stream; and a TLS socket's own shutdown() would drop its SSL
    state under the reader's feet."""
    try:
        fd = sock.fileno()
        if fd < 0:
            return
        with socket.socket(fileno=os.dup(fd)) as twin:
            twin.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed: nothing to wake


_current: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar("janus_upstream_cancel", default=None)


@contextmanager
def cancellable(signal: Signal | None) -> Iterator[_Scope | None]:
    """Run an upstream exchange that `signal` may cut short; raises CallCancelled if it is already set."""
    if signal is None:
        yield None
        return
    if signal.is_set():
        raise CallCancelled()
    scope = _Scope(signal)
    token = _current.set(scope)
    remove = signal.on_cancel(scope.cut)
    try:
        yield scope
    finally:
        remove()
        _current.reset(token)


def bind_socket(sock: socket.socket | None) -> None:
    """Called by a connection as it starts to wait for its response: a cancellation now cuts this socket."""
    scope = _current.get()
    if scope is not None:
        scope.bind(sock)


def unbind_socket() -> bool:
    """Called as the exchange ends, before its connection is released: True when the socket was cut
    (the connection must be closed, not reused)."""
    scope = _current.get()
    return scope.unbind() if scope is not None else False


def cancelled_here() -> bool:
    """Whether the call running here has been cancelled (its upstream error is then our own doing)."""
    scope = _current.get()
    return scope is not None and scope.signal.is_set()


class CancellableConnection:
    """Mixed in before urllib3's HTTPConnection/HTTPSConnection: binds the socket in use to the call's scope."""

    sock: Any

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        bind_socket(self.sock)
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]  # a mixin: urllib3's connection follows it in the MRO


def proxy_pool_classes() -> dict[str, type]:
    """Pool classes for a urllib3 ProxyManager (`pool_classes_by_scheme`) whose connections are cancellable."""
    import urllib3
    from urllib3.connection import HTTPConnection, HTTPSConnection

    http = type("CancellableHTTPConnection", (CancellableConnection, HTTPConnection), {})
    https = type("CancellableHTTPSConnection", (CancellableConnection, HTTPSConnection), {})
    return {
        "http": type("CancellableHTTPConnectionPool", (urllib3.HTTPConnectionPool,), {"ConnectionCls": http}),
        "https": type("CancellableHTTPSConnectionPool", (urllib3.HTTPSConnectionPool,), {"ConnectionCls": https}),
    }
