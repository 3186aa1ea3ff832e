"""What the call's deadline costs per upstream response: BoundedResponse against http.client's own.

Both parse the same typical answer (status line, 8 headers, a 300-byte JSON body) from a real socket pair,
interleaved in rounds so machine noise hits both alike. The bounded one runs as the executor runs it:
the deadline set and reset around the response, a reader that bounds every read by the time left, and
the header lines watched for a cut-off block. The difference is the per-call cost of the feature (the
executor has no "off" switch for it: a call always has a deadline).

tool_call_overhead.py measures whole calls, but on a shared machine its noise (tens of µs) hides a
difference this small; this isolates it.
"""

from __future__ import annotations

import argparse
import http.client
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from janus.gateway.bounded_response import BoundedResponse, deadline_reset, deadline_set

BODY = (
    b'{"station": "KSEA", "temperature": 11.5, "wind": {"speed": 4, "direction": "SW"}, '
    + b'"x": "'
    + b"a" * 200
    + b'"}'
)
RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Date: Mon, 07 Dec 2026 00:00:00 GMT\r\n"
    b"Server: upstream/1.0\r\n"
    b"Content-Type: application/json\r\n"
    b"Cache-Control: no-store\r\n"
    b"X-Request-Id: 6f1c2a9e-4b7d-4c55-9a43-0d7b3e2f1a88\r\n"
    b"Vary: Accept-Encoding\r\n"
    b"Connection: keep-alive\r\n" + f"Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY
)


def _plain(sock: socket.socket) -> bytes:
    response = http.client.HTTPResponse(sock, method="GET")
    response.begin()
    body = response.read1(65536)
    response.close()
    return body


def _bounded(sock: socket.socket) -> bytes:
    token = deadline_set(time.monotonic() + 10)
    try:
        response = BoundedResponse(sock, method="GET")
    finally:
        deadline_reset(token)
    response.begin()
    body = response.read1(65536)
    response.close()
    return body


def _round(parse, ours: socket.socket, theirs: socket.socket, n: int) -> float:
    """CPU µs per response of this thread (other processes' load moves wall time far more than CPU time)."""
    started = time.thread_time()
    for _ in range(n):
        theirs.sendall(RESPONSE)
        ours.settimeout(10)  # as urllib3 does before each response
        assert parse(ours) == BODY
    return (time.thread_time() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--responses", type=int, default=50_000, help="responses per kind (max 1,000,000)")
    parser.add_argument("--round", type=int, default=1000, help="responses per kind per interleaved round")
    args = parser.parse_args()
    total = min(args.responses, 1_000_000)
    ours, theirs = socket.socketpair()
    try:
        plain: list[float] = []
        bounded: list[float] = []
        for _ in range(max(1, total // args.round)):
            plain.append(_round(_plain, ours, theirs, args.round))
            bounded.append(_round(_bounded, ours, theirs, args.round))
    finally:
        ours.close()
        theirs.close()
    print(f"{total} responses per kind, rounds of {args.round}; CPU µs per response (sending included)")
    print("                               median     min")
    for name, values in (("http.client.HTTPResponse", plain), ("BoundedResponse (deadline)", bounded)):
        print(f"  {name:27}  {statistics.median(values):7.2f} {min(values):7.2f}")
    diffs = [b - p for p, b in zip(plain, bounded, strict=True)]  # paired: each round's two halves ran together
    print(f"  cost of the deadline         {statistics.median(diffs):+7.2f} µs/response (median of paired rounds)")


if __name__ == "__main__":
    main()
