"""gunicorn's gevent worker with a cap on open connections per client address.

A worker holds at most `worker_connections` connections; one client opening
that many slow ones (headers or body trickling in) would leave none for anyone
else, /healthz included. The cap is checked when a connection is accepted,
before a byte of it is read: a connection beyond it is answered at once with
429 and closed, so refusing costs the worker almost nothing.

The cap counts the TCP peer address. Behind a reverse proxy or a NAT every
client shares one address: raise MAX_CONNECTIONS_PER_CLIENT (or set 0 to turn
the cap off) and let the proxy enforce per-client limits, since it sees the
real addresses. The count is per worker process, so one address may hold up
to WEB_CONCURRENCY x the cap across the gateway.
"""

from __future__ import annotations

import socket
import ssl
from collections import Counter

from gunicorn.workers.ggevent import GeventWorker

from janus.config import load as _load_config

_REFUSAL_BODY = (
    b'{"error":"too_many_connections","message":"This client address has too many open '
    b'connections to this gateway worker; close some and retry."}'
)
REFUSAL = (
    b"HTTP/1.1 429 Too Many Requests\r\n"
    b"Content-Type: application/json\r\n"
    b"Retry-After: 1\r\n"
    b"Connection: close\r\n"
    b"Content-Length: " + str(len(_REFUSAL_BODY)).encode() + b"\r\n\r\n" + _REFUSAL_BODY
)
_DRAIN_BYTES = 65536
# A TLS client has this long to complete its handshake (the request head then has gunicorn's keepalive).
HANDSHAKE_SECONDS = 10.0


class JanusGeventWorker(GeventWorker):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_per_client = max(0, int(_load_config()["MAX_CONNECTIONS_PER_CLIENT"]))
        self.open_by_client: Counter[str] = Counter()  # greenlets of one worker: no lock needed

    def handle(self, listener, client, addr) -> None:
        host = _client_host(addr)
        if host is None or not self.max_per_client:
            if self._handshake(client, host):
                super().handle(listener, client, addr)
            return
        if self.open_by_client[host] >= self.max_per_client:
            self._refuse(client, host)
            return
        self.open_by_client[host] += 1
        try:
            if self._handshake(client, host):
                super().handle(listener, client, addr)
        finally:
            self.open_by_client[host] -= 1
            if self.open_by_client[host] <= 0:
                del self.open_by_client[host]

    def _handshake(self, client, host: str | None) -> bool:
        """Complete a TLS handshake (the context defers it: janus.config.server_tls_context) under a
        deadline. A refused one, e.g. a client without a certificate from CLIENT_CA_PATH or offering only
        TLS 1.1, is one log line and a closed connection, not a traceback."""
        if not isinstance(client, ssl.SSLSocket):
            return True
        try:
            client.settimeout(HANDSHAKE_SECONDS)
            client.do_handshake()
        except (ssl.SSLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or type(exc).__name__
            self.log.info("TLS handshake with %s refused: %s", host or "a client", reason)
            client.close()
            return False
        return True

    def _refuse(self, client, host: str) -> None:
        self.log.warning(
            "refused a connection from %s: it already holds %d (MAX_CONNECTIONS_PER_CLIENT)", host, self.max_per_client
        )
        try:
            client.setblocking(False)
            try:
                # Read what already arrived, so closing does not answer the client with a reset
                # that would hide the 429 from it; never wait for more.
                client.recv(_DRAIN_BYTES)
            except (BlockingIOError, InterruptedError):
                pass
            client.settimeout(1.0)
            client.sendall(REFUSAL)
            client.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            client.close()


def _client_host(addr) -> str | None:
    # A TCP peer is (host, port[, flow, scope]); a Unix socket peer has no address to count.
    if isinstance(addr, tuple) and addr:
        return str(addr[0])
    return None
