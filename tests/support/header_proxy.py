"""A tiny HTTP proxy on 127.0.0.1 that adds `Authorization: Bearer <token>` and streams answers back.

Clients that send no credentials (the MCP conformance suite) can then talk to an
authenticated gateway. Everything else passes through as sent — notably `Host` and
`Origin`, so the gateway's DNS-rebinding checks see what the client sent — and the
answer is relayed chunk by chunk as it arrives, so an SSE stream is never buffered.
When the client goes away mid-stream the upstream connection is closed too, so the
gateway sees the disconnect (a cancellation on Streamable HTTP).
"""

from __future__ import annotations

import http.client
import select
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Per-connection headers (RFC 9110 7.6.1) are not forwarded; the proxy frames both legs itself.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
CHUNK = 64 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args) -> None:
        pass  # the gateway logs requests; a second copy here is noise

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = self.headers.get("Content-Length")
        return self.rfile.read(int(length)) if length else None

    def _forward(self) -> None:
        proxy = self.server.owner
        body = self._read_body()
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP]
        if not any(k.lower() == "authorization" for k, _ in headers):
            headers.append(("Authorization", f"Bearer {proxy.token}"))
        if body is not None:
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(body))))

        conn = http.client.HTTPConnection(proxy.target_host, proxy.target_port, timeout=proxy.upstream_timeout)
        proxy.track(conn)
        try:
            try:
                # skip_host: the client's Host header goes through unchanged.
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for key, value in headers:
                    conn.putheader(key, value)
                conn.endheaders(body)
                response = conn.getresponse()
            except OSError as exc:
                self._bad_gateway(exc)
                return
            self._relay(conn, response)
        finally:
            proxy.untrack(conn)
            conn.close()

    def _relay(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
        self.close_connection = True  # one request per client connection keeps framing trivial
        self.send_response_only(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        if self.command == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200:
            return

        done = threading.Event()
        watcher = threading.Thread(target=self._watch_client, args=(conn, done), daemon=True)
        watcher.start()
        try:
            while True:
                data = response.read1(CHUNK)
                if not data:
                    break
                self.wfile.write(data)
                self.wfile.flush()
        except (OSError, http.client.HTTPException):
            pass  # either side went away (or the stream was cut on purpose); nothing more to relay
        finally:
            done.set()

    def _watch_client(self, conn: http.client.HTTPConnection, done: threading.Event) -> None:
        """Close the upstream leg as soon as the client hangs up, even while the stream is idle."""
        sock = self.connection
        while not done.is_set():
            try:
                readable, _, _ = select.select([sock], [], [], 0.1)
                if readable and not sock.recv(1, socket.MSG_PEEK):
                    break  # EOF: the client closed its end
            except (OSError, ValueError):
                break
        else:
            return
        upstream = conn.sock
        if upstream is not None:
            try:
                upstream.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _bad_gateway(self, exc: Exception) -> None:
        message = f"header proxy could not reach {self.server.owner.target}: {exc}".encode()
        self.close_connection = True
        self.send_response_only(502, "Bad Gateway")
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(message)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(message)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = do_OPTIONS = _forward


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: HeaderProxy

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], (OSError, http.client.HTTPException)):
            return  # a peer hung up mid-request: routine for streams, not worth a traceback
        super().handle_error(request, client_address)


class HeaderProxy:
    """`HeaderProxy("http://127.0.0.1:8080", token).start()`; `.url` is where clients connect."""

    def __init__(self, target: str, token: str, host: str = "127.0.0.1", upstream_timeout: float = 120.0) -> None:
        parts = urlsplit(target)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"HeaderProxy forwards to plain http://host:port targets, not {target!r}")
        self.target = target
        self.target_host = parts.hostname
        self.target_port = parts.port or 80
        self.token = token
        self.upstream_timeout = upstream_timeout
        self._server = _Server((host, 0), _Handler)
        self._server.owner = self
        self.host = host
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._open: set[http.client.HTTPConnection] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def track(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            self._open.add(conn)

    def untrack(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            self._open.discard(conn)

    def start(self) -> HeaderProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            open_now = list(self._open)
        for conn in open_now:  # unblock relays still waiting on an idle stream
            if conn.sock is not None:
                try:
                    conn.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def __enter__(self) -> HeaderProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
