"""Publish→get latency of the SSE message bus: two buses in one process, like two workers.

`LocalSocketBus` (SQLite deployments: Unix sockets) always; `PostgresBus` (LISTEN/NOTIFY) when
`--pg-url` names a database (e.g. postgresql://postgres@127.0.0.1:5432/test). Each message is a
JSON-RPC result of about 1 kB, sent and waited for one at a time. Moved here from
tests/transports/test_bus.py, which keeps only the check that every message arrives.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time

from janus.transports.bus import Bus, create_bus
from janus.transports.bus.local import LocalSocketBus


def round_trips(sender: Bus, receiver: Bus, count: int) -> list[float]:
    """Milliseconds from publish to the receiver's mailbox answering, per message."""
    mailbox = receiver.subscribe("latency")
    message = json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": "x" * 1000}]}})
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        if not sender.publish(receiver.node, "latency", message):
            raise SystemExit("publish failed")
        if mailbox.get(timeout=10) != message:
            raise SystemExit("a message was lost or changed")
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def report(label: str, samples: list[float]) -> None:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")  # never past the max
    print(
        f"{label:15} {len(samples)} messages: p50 {cuts[49]:.3f} ms, p99 {cuts[98]:.3f} ms, max {max(samples):.3f} ms"
    )


def measure(make_pair, count: int) -> list[float]:
    a, b = make_pair()
    try:
        round_trips(a, b, min(20, count))  # warm-up: connections, the first select()
        return round_trips(a, b, count)
    finally:
        a.close()
        b.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200, help="messages per bus kind (default 200)")
    parser.add_argument("--pg-url", help="PostgreSQL URL for PostgresBus (skipped without)")
    args = parser.parse_args()

    runtime_dir = tempfile.mkdtemp(prefix="janus-bench-bus-")
    try:

        def local_pair():
            a, b = LocalSocketBus(runtime_dir=runtime_dir), LocalSocketBus(runtime_dir=runtime_dir)
            a.start()
            b.start()
            return a, b

        report("LocalSocketBus", measure(local_pair, args.count))
    finally:
        shutil.rmtree(runtime_dir, ignore_errors=True)

    if args.pg_url:
        uri = "postgresql+psycopg2://" + args.pg_url.split("://", 1)[1]

        def pg_pair():
            a, b = create_bus(uri), create_bus(uri)
            a.start()
            b.start()
            return a, b

        report("PostgresBus", measure(pg_pair, args.count))


if __name__ == "__main__":
    main()
