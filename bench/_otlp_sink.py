"""A minimal OTLP/HTTP trace receiver on 127.0.0.1 for benchmarks: answers every export at once.

Prints its base URL on stdout; when stdin closes, prints how many export requests and spans it received.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

RECEIVED = {"requests": 0, "spans": 0}
LOCK = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        spans = sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
        with LOCK:
            RECEIVED["requests"] += 1
            RECEIVED["spans"] += spans
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"http://127.0.0.1:{server.server_port}", flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin
    with LOCK:
        print(f"{RECEIVED['requests']} {RECEIVED['spans']}", flush=True)
    server.shutdown()


if __name__ == "__main__":
    main()
