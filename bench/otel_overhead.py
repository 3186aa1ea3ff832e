"""What tracing costs per tool call (issue 14, item 4): OpenTelemetry off vs on, in one run.

One process, one runtime, the same upstream (its own process on 127.0.0.1) and the same in-process
`McpServer.handle(tools/call)` path as bench/tool_call_overhead.py's `janus` mode, in four modes
interleaved in rounds so machine noise hits all alike:

  off             no OTEL_* variable, no trace context from the caller (the default: nothing of OTel loaded)
  off+parent      tracing off, the caller sends `traceparent`: it is validated, audited and forwarded upstream
  on              OTLP export on (BatchSpanProcessor to a local receiver process): 3 spans per call
  on+parent       tracing on and the caller's trace continued

The receiver runs in its own process, so the CPU column counts what the gateway process spends: span
objects, the batch processor's thread and the protobuf encoding plus the export POSTs. `off` is measured
before the SDK is ever imported (a check below proves it), then tracing is switched per round.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.tool_call_overhead import TOKEN, _prepare, _start_upstream  # noqa: E402

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _untraced_ns(rounds: int = 200_000) -> float:
    """The per-call work tracing adds when it is off and the caller sent no trace context, on its own:
    finding no trace context, start_call answering None, and the vault-read and upstream blocks."""
    import timeit

    from janus.gateway import tracing

    headers: dict[str, str] = {}

    def untraced() -> None:
        trace = tracing.start_call("bench_trade_volume", {}, None)
        with tracing.vault_read(trace, "Bench", "bearer"):
            pass
        with tracing.upstream_request(trace, "Bench", "GET", headers) as upstream:
            upstream.answered(200)

    return min(timeit.repeat(untraced, number=rounds, repeat=5)) / rounds * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000, help="calls per mode (max 20000)")
    parser.add_argument("--round", type=int, default=100, help="calls per mode per interleaved round")
    parser.add_argument("--max-seconds", type=float, default=300)
    args = parser.parse_args()
    calls = min(args.calls, 20000)

    from janus.gateway import tracing
    from janus.gateway.catalog import Principal
    from janus.mcp.server import McpServer
    from janus.runtime import get_runtime

    sink = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "_otlp_sink.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    sink_url = sink.stdout.readline().strip()
    workdir = tempfile.mkdtemp(prefix="janus-otel-bench-")
    upstream, url = _start_upstream()
    app = _prepare(workdir, url)
    runtime = get_runtime(app)  # configures tracing from the environment: off here
    server = McpServer(runtime.backend, name="janus", version="bench")
    plain = Principal(runtime.catalog.hash_token(TOKEN), transport="bench")
    parented = Principal(runtime.catalog.hash_token(TOKEN), transport="bench", traceparent=PARENT)

    def call(principal: Principal, i: int) -> None:
        reply = server.handle(
            {
                "jsonrpc": "2.0",
                "id": i,
                "method": "tools/call",
                "params": {"name": "bench_trade_volume", "arguments": {"member_id": "MEM-LCH-001"}},
            },
            session=None,
            caller=principal,
        )
        assert reply["result"]["isError"] is False, reply

    for i in range(50):  # warm up with tracing off: connections, caches
        call(plain, i)
    off_loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))

    # Tracing on for this process, as OTEL_EXPORTER_OTLP_ENDPOINT would turn it on in a worker.
    tracing.shutdown()  # forget the "off" decision so configure reads the variables again
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink_url
    os.environ["OTEL_SERVICE_NAME"] = "janus-bench"
    assert tracing.configure()
    tracer = tracing._TRACER  # switched per round below; a benchmark's liberty, not an API
    for i in range(50):
        call(plain, i)

    modes = {
        "off": (None, plain),
        "off+parent": (None, parented),
        "on": (tracer, plain),
        "on+parent": (tracer, parented),
    }
    latencies: dict[str, list[float]] = {m: [] for m in modes}
    cpu = dict.fromkeys(modes, 0.0)
    deadline = time.monotonic() + args.max_seconds
    done = 0
    while done < calls and time.monotonic() < deadline:
        batch = min(args.round, calls - done)
        order = list(modes.items())
        shift = (done // args.round) % len(order)  # each mode takes each place in turn: no order bias
        for name, (mode_tracer, principal) in order[shift:] + order[:shift]:
            tracing._TRACER = mode_tracer
            before = time.process_time()
            for i in range(batch):
                t = time.perf_counter()
                call(principal, i)
                latencies[name].append(time.perf_counter() - t)
            if mode_tracer is not None:
                tracing.flush()  # the round's export work is charged to the round that made it
            cpu[name] += time.process_time() - before
        done += batch
    tracing._TRACER = tracer
    tracing.shutdown()
    runtime.audit.flush()
    upstream.stdin.close()
    upstream.wait(30)
    sink.stdin.close()
    exports, spans = (int(x) for x in sink.stdout.readline().split())
    sink.wait(30)

    print(
        f"{done} calls per mode, interleaved in rounds of {args.round}; upstream and OTLP receiver in their own processes\n"
    )
    print(f"opentelemetry modules loaded before tracing was turned on: {off_loaded or 'none'}")
    print(f"spans received by the OTLP receiver: {spans} in {exports} export requests\n")
    base_p50 = statistics.median(latencies["off"])
    base_cpu = cpu["off"] / len(latencies["off"])
    print(f"{'mode':11} {'p50 µs':>9} {'p90 µs':>9} {'CPU µs/call':>12} {'Δp50 µs':>9} {'ΔCPU µs':>9}")
    for name, values in latencies.items():
        values.sort()
        p50 = statistics.median(values)
        p90 = values[int(len(values) * 0.9)]
        per_call = cpu[name] / len(values)
        print(
            f"{name:11} {p50 * 1e6:9.0f} {p90 * 1e6:9.0f} {per_call * 1e6:12.0f} "
            f"{(p50 - base_p50) * 1e6:9.0f} {(per_call - base_cpu) * 1e6:9.0f}"
        )
    runtime.close()
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
