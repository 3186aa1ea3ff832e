"""What the rate limits add to one request (issue 13, part 5), measured in this process.

For each store (the process's memory, and Redis when --redis-url is given), times the per-client
check of one JSON-RPC request (`throttle_message`: catalogue lookup, the moving-window hit) and one
call slot (`CallSlots.acquire` + `release`), with limits high enough never to refuse. Reports the
median and p90 in microseconds over interleaved rounds, and the CPU per operation.

    .venv/bin/python bench/rate_limit_cost.py                      # memory only
    .venv/bin/python bench/rate_limit_cost.py --redis-url redis://127.0.0.1:6379/12

The Redis database given is flushed before and after: use one of its own.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from janus.config import load
from janus.gateway.catalog import Catalog, CatalogSnapshot, Principal, TokenRecord
from janus.transports.rate_limits import RateLimits, throttle_message

MESSAGE = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


class _Backend:
    """What throttle_message reads from the gateway backend: the catalogue (and no built-in tools)."""

    builtins = None

    def __init__(self) -> None:
        snapshot = CatalogSnapshot(
            version=1, tools=(), tokens={"h": TokenRecord(id="t1", name="bench", role="developer", scopes=("*",))}
        )
        self.catalog = Catalog(lambda: snapshot, lambda: 1, token_key=b"k" * 32)


def _measure(label: str, operation, count: int, rounds: int) -> None:
    samples: list[float] = []
    cpu = 0.0
    for _ in range(rounds):
        for _ in range(count // rounds):
            c0, t0 = time.process_time(), time.perf_counter()
            operation()
            samples.append((time.perf_counter() - t0) * 1e6)
            cpu += time.process_time() - c0
    samples.sort()
    p90 = samples[int(len(samples) * 0.9)]
    print(
        f"{label:<34} p50 {statistics.median(samples):8.1f} µs   p90 {p90:8.1f} µs   "
        f"CPU {cpu / len(samples) * 1e6:7.1f} µs/op"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", default="", help="also measure with the counters in this Redis database")
    parser.add_argument("--count", type=int, default=5000, help="operations per measurement (max 100000)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    count = min(max(args.count, 100), 100_000)
    backend = _Backend()
    principal = Principal(token_hash="h", transport="bench")
    stores = [("memory", "")] + ([("redis", args.redis_url)] if args.redis_url else [])
    for name, url in stores:
        cfg = load({"MCP_RATE_PER_CLIENT": 1_000_000, "MCP_BURST_PER_CLIENT": 1_000_000, "REDIS_URL": url}, environ={})
        limits = RateLimits(cfg)
        if limits.counters.redis is not None:
            limits.counters.redis.flushdb()
        slots = limits.slots
        assert slots is not None

        def check(limits=limits) -> None:
            assert throttle_message(limits, backend, lambda record: None, principal, MESSAGE) is None

        def slot(slots=slots) -> None:
            taken = slots.acquire()
            assert taken is not None
            slots.release(taken)

        check()  # the first use connects
        _measure(f"{name}: per-client check", check, count, args.rounds)
        _measure(f"{name}: call slot (acquire+release)", slot, count, args.rounds)
        if limits.counters.redis is not None:
            limits.counters.redis.flushdb()
    return 0


if __name__ == "__main__":
    sys.exit(main())
