"""A small, fast keep-alive JSON upstream on 127.0.0.1 for benchmarks."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = json.dumps(
    {
        "member_id": "MEM-LCH-001",
        "total_trades": 2540,
        "currency_breakdown": [
            {"currency": c, "trade_count": 100 + i} for i, c in enumerate(["GBP", "EUR", "USD", "JPY", "CHF"])
        ],
    }
).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Headers and body in separate segments would otherwise meet delayed ACKs (~40 ms a call).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n").encode()
        self.wfile.write(head + BODY)

    def log_message(self, *args):
        pass


def start() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


if __name__ == "__main__":  # run as its own process so its CPU is not counted against the caller
    import sys
    import time

    srv, url = start()
    print(url, flush=True)
    deadline = time.monotonic() + float(sys.argv[1] if len(sys.argv) > 1 else 600)
    while time.monotonic() < deadline and sys.stdin.readline():
        pass  # stays up until stdin closes or the deadline passes
    srv.shutdown()
