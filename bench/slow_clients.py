"""Slow clients against a real one-worker `mcp-gateway` (issue 10, items 6 and 7).

  healthz  /healthz latency from 127.0.0.1, first alone, then while --sockets connections from
           127.0.0.2 have sent a POST /mcp head declaring a 60 kB body and send nothing more.
  sse-rss  RSS of the gateway's worker before and after --results tool results of --result-bytes
           each are sent to a legacy SSE stream whose client has stopped reading.

Both run the gateway with its default settings apart from WEB_CONCURRENCY=1, seed it with the test
suite's catalog helpers (tests/support), contact only loopback addresses, and are bounded in count
and time. The code measured is the `janus` first on PYTHONPATH, so the same script measures any
checkout (copy it into that checkout's bench/ and run it from there):

  PYTHONPATH=$PWD .venv/bin/python bench/slow_clients.py healthz [--sockets 1000] [--probes 40]
  PYTHONPATH=$PWD .venv/bin/python bench/slow_clients.py sse-rss [--results 60] [--result-bytes 900000]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ATTACKER = "127.0.0.2"  # loopback, but not the address /healthz is probed from


def _gateway(**env):
    from tests.support.http_gateway import start_http_gateway

    return start_http_gateway(Path(tempfile.mkdtemp(prefix="janus-bench-slow-")), WEB_CONCURRENCY="1", **env)


def _worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    if len(children) != 1:
        raise SystemExit(f"expected one gunicorn worker under {master}, found {children}")
    return int(children[0])


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no VmRSS for {pid}")


def _probe_healthz(port: int, count: int, timeout: float) -> tuple[list[float], int]:
    """`count` sequential GET /healthz on fresh connections; latencies of the answered ones, and failures."""
    latencies, failures = [], 0
    request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
    for _ in range(count):
        started = time.perf_counter()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
                sock.sendall(request)
                answer = sock.recv(64)
            if answer.startswith(b"HTTP/1.1 200"):
                latencies.append(time.perf_counter() - started)
            else:
                failures += 1
        except OSError:
            failures += 1
    return latencies, failures


def _summary(latencies: list[float], failures: int) -> str:
    if not latencies:
        return f"no answer at all ({failures} probes failed)"
    cuts = statistics.quantiles(latencies, n=10) if len(latencies) > 1 else [latencies[0]] * 9
    return (
        f"p50 {statistics.median(latencies) * 1000:.1f} ms, p90 {cuts[8] * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms, {failures} of {len(latencies) + failures} probes failed"
    )


def healthz(args) -> None:
    from tests.support.http_gateway import WEATHER, stop_http_gateway

    gw = _gateway()
    slow: list[socket.socket] = []
    try:
        port = gw.server.port
        print(f"alone:                {_summary(*_probe_healthz(port, args.probes, args.timeout))}")
        head = (
            f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {WEATHER}\r\n"
            "Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n"
            "Content-Length: 60000\r\n\r\n"
        ).encode()
        opened_at = time.monotonic()
        for _ in range(args.sockets):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(ATTACKER, 0))
            sock.sendall(head)
            slow.append(sock)
        print(f"{args.sockets} slow bodies opened in {time.monotonic() - opened_at:.1f} s")
        latencies, failures = _probe_healthz(port, args.probes, args.timeout)
        print(
            f"with {args.sockets} slow bodies: {_summary(latencies, failures)} "
            f"(probe timeout {args.timeout:.0f} s; the slow sockets have been open "
            f"{time.monotonic() - opened_at:.1f} s)"
        )
    finally:
        for sock in slow:
            sock.close()
        stop_http_gateway(gw)


def sse_rss(args) -> None:
    from tests.support.catalog import add_endpoint
    from tests.support.http_gateway import WEATHER, stop_http_gateway
    from tests.support.http_streams import post_legacy, wait_listed_everywhere
    from tests.support.upstream import json_response
    from tests.support.waiting import wait_for

    gw = _gateway()
    sock = None
    try:
        blob = "x" * args.result_bytes
        gw.upstream.route("/big", lambda request: json_response({"blob": blob}))
        add_endpoint(gw.app, gw.weather_connection, "big_report", "/big")
        wait_listed_everywhere(gw.url, WEATHER, lambda tools: "weather_big_report" in tools, "the big tool")
        worker = _worker_pid(gw.server.proc.pid)

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(15)
        sock.connect(("127.0.0.1", gw.server.port))
        sock.sendall(f"GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {WEATHER}\r\n\r\n".encode())
        received = b""

        def read_until(marker: bytes) -> bytes:
            nonlocal received
            while marker not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    raise SystemExit(f"the stream ended before {marker!r}")
                received += chunk
            return received

        read_until(b"data: /messages")
        read_until(b"\n\n")  # the end of the endpoint event (the HTTP head ends in \r\n\r\n)
        endpoint = received.split(b"data: ", 1)[1].split(b"\n", 1)[0].decode().strip()
        post_legacy(
            gw.url,
            endpoint,
            {
                "jsonrpc": "2.0",
                "id": "init",
                "method": "initialize",
                "params": {
                    "protocolVersion": "2024-11-05",
                    "capabilities": {},
                    "clientInfo": {"name": "b", "version": "1"},
                },
            },
            WEATHER,
        )
        read_until(b'"id":"init"')
        post_legacy(gw.url, endpoint, {"jsonrpc": "2.0", "method": "notifications/initialized"}, WEATHER)
        before = _rss_mib(worker)
        statuses: dict[int, int] = {}
        upstream_before = sum(1 for seen in gw.upstream.seen if seen.path == "/big")
        for i in range(args.results):  # the client reads nothing from here on
            status = post_legacy(
                gw.url,
                endpoint,
                {
                    "jsonrpc": "2.0",
                    "id": i,
                    "method": "tools/call",
                    "params": {"name": "weather_big_report", "arguments": {}},
                },
                WEATHER,
            ).status_code
            statuses[status] = statuses.get(status, 0) + 1
        accepted = statuses.get(202, 0)
        wait_for(
            lambda: sum(1 for seen in gw.upstream.seen if seen.path == "/big") - upstream_before >= accepted,
            timeout=60,
            what="the accepted calls to reach the upstream",
        )
        time.sleep(1.0)  # a benchmark, not a test: let the last results reach the mailbox before sampling
        after = _rss_mib(worker)
        print(
            f"worker RSS: {before:.1f} MiB before, {after:.1f} MiB after {args.results} results of "
            f"{args.result_bytes} bytes to a stream that reads nothing (+{after - before:.1f} MiB); "
            f"POST statuses {json.dumps(statuses)}; gateway gave up on the stream: "
            f"{'the client is not reading' in gw.server.log}"
        )
    finally:
        if sock is not None:
            sock.close()
        stop_http_gateway(gw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    h = sub.add_parser("healthz")
    h.add_argument("--sockets", type=int, default=1000, help="slow connections (at most 2000)")
    h.add_argument("--probes", type=int, default=40, help="/healthz requests per phase (at most 500)")
    h.add_argument("--timeout", type=float, default=3.0, help="seconds one probe may take")
    s = sub.add_parser("sse-rss")
    s.add_argument("--results", type=int, default=60, help="tool results sent to the stalled stream (at most 200)")
    s.add_argument("--result-bytes", type=int, default=900_000, help="size of each upstream body (under 1 MiB)")
    args = parser.parse_args()
    if args.command == "healthz":
        args.sockets, args.probes = min(args.sockets, 2000), min(args.probes, 500)
        healthz(args)
    else:
        args.results = min(args.results, 200)
        sse_rss(args)


if __name__ == "__main__":
    main()
