"""Cost of a tools/call through Janus versus calling the same upstream directly.

Three ways to fetch the same JSON document from an upstream running in its own
process on 127.0.0.1, interleaved in rounds so machine noise hits all alike:

  direct   requests.Session().get(...).json()            (the floor)
  janus    McpServer.handle(tools/call) in this process   (core + catalog + validation + executor + audit + metrics)
  stdio    a real `mcp-gateway -stdio` child over pipes   (adds JSON-RPC framing and process hops)

Reports p50/p90 latency and CPU per call (this process's CPU for direct/janus,
the child's CPU for stdio) and ratios against direct.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
GATEWAY = shutil.which("mcp-gateway", path=str(Path(sys.executable).parent)) or "mcp-gateway"
TOKEN = "bench_token_" + secrets.token_hex(12)


def _start_upstream() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "_upstream.py"), "900"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    return proc, proc.stdout.readline().strip()


# --output-validation: the tool describes the upstream's answer, and structuredContent is checked against it.
OUTPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "member_id": {"type": "string"},
        "total_trades": {"type": "integer"},
        "currency_breakdown": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"currency": {"type": "string"}, "trade_count": {"type": "integer"}},
                "required": ["currency", "trade_count"],
            },
        },
    },
    "required": ["member_id", "total_trades"],
}


def _prepare(workdir: str, upstream_url: str, output_validation: str = "off"):
    from janus import create_app
    from janus.extensions import db
    from janus.gateway.catalog import hash_token
    from janus.models import ClientToken, Connection, Endpoint
    from janus.services.bootstrap import ensure_schema
    from janus.services.token_key import server_key

    app = create_app(
        {
            "DATABASE_PATH": f"{workdir}/bench.db",
            "VAULT_LOCAL_PATH": f"{workdir}/secrets.json",
            "LOG_LEVEL": "WARNING",
            "ADMIN_PASSWORD": "bench-admin-password",
        }
    )
    with app.app_context():
        ensure_schema()
        conn = Connection(name="Bench", base_url=upstream_url, prefix="bench_", timeout_seconds=10)
        conn.endpoints = [
            Endpoint(
                tool_name="trade_volume",
                path_template="/dpg/trade-volume",
                method="GET",
                input_schema={
                    "type": "object",
                    "properties": {"member_id": {"type": "string"}},
                    "required": ["member_id"],
                },
                output_schema=OUTPUT_SCHEMA if output_validation != "off" else None,
                output_validation=output_validation,
            )
        ]
        db.session.add(conn)
        db.session.add(ClientToken(name="bench", token_hash=hash_token(TOKEN, server_key(app)), scopes="bench_*"))
        db.session.commit()
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000, help="calls per mode (max 20000)")
    parser.add_argument("--round", type=int, default=100, help="calls per mode per interleaved round")
    parser.add_argument("--max-seconds", type=float, default=300)
    parser.add_argument(
        "--output-validation",
        choices=("off", "lenient", "strict"),
        default="off",
        help="give the tool an output schema checked with this policy (off: no schema)",
    )
    args = parser.parse_args()
    calls = min(args.calls, 20000)

    from janus.gateway.catalog import Principal
    from janus.mcp.server import McpServer
    from janus.runtime import get_runtime

    workdir = tempfile.mkdtemp(prefix="janus-bench-")
    upstream, url = _start_upstream()
    app = _prepare(workdir, url, args.output_validation)
    runtime = get_runtime(app)
    server = McpServer(runtime.backend, name="janus", version="bench")
    principal = Principal(runtime.catalog.hash_token(TOKEN), transport="bench")
    stdio = subprocess.Popen(
        [GATEWAY, "-stdio"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={
            **os.environ,
            "DATABASE_PATH": f"{workdir}/bench.db",
            "MCP_GATEWAY_TOKEN": TOKEN,
            "VAULT_LOCAL_PATH": f"{workdir}/secrets.json",
            "LOG_LEVEL": "WARNING",
            # Counted but never refused: the default 50/s would stop the loop, not measure it.
            "MCP_RATE_PER_CLIENT": "1000000",
            "MCP_BURST_PER_CLIENT": "1000000",
        },
    )
    stdio_ps = psutil.Process(stdio.pid)
    session = requests.Session()
    direct_url = url + "/dpg/trade-volume"

    def call_direct(i: int) -> None:
        response = session.get(direct_url, params={"member_id": "MEM-LCH-001"}, timeout=10)
        assert response.status_code == 200 and response.json()["total_trades"]

    def call_janus(i: int) -> None:
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

    def call_stdio(i: int) -> None:
        stdio.stdin.write(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": i,
                    "method": "tools/call",
                    "params": {"name": "bench_trade_volume", "arguments": {"member_id": "MEM-LCH-001"}},
                }
            ).encode()
            + b"\n"
        )
        stdio.stdin.flush()
        reply = json.loads(stdio.stdout.readline())
        assert reply["result"]["isError"] is False, reply

    modes = {"direct": call_direct, "janus": call_janus, "stdio": call_stdio}
    latencies = {m: [] for m in modes}
    cpu = dict.fromkeys(modes, 0.0)
    for fn in modes.values():  # warm up: connections, caches, lazy imports
        for i in range(50):
            fn(i)
    deadline = time.monotonic() + args.max_seconds
    done = 0
    while done < calls and time.monotonic() < deadline:
        batch = min(args.round, calls - done)
        for name, fn in modes.items():
            own = name != "stdio"
            before = time.process_time() if own else sum(stdio_ps.cpu_times()[:2])
            for i in range(batch):
                t = time.perf_counter()
                fn(i)
                latencies[name].append(time.perf_counter() - t)
            after = time.process_time() if own else sum(stdio_ps.cpu_times()[:2])
            cpu[name] += after - before
        done += batch
    runtime.audit.flush()
    stdio.stdin.close()
    stdio.wait(30)
    upstream.stdin.close()
    upstream.wait(30)

    base_p50 = statistics.median(latencies["direct"])
    base_cpu = cpu["direct"] / len(latencies["direct"])
    print(f"{done} calls per mode, interleaved in rounds of {args.round}; upstream in its own process on 127.0.0.1\n")
    print(f"{'mode':8} {'p50 µs':>9} {'p90 µs':>9} {'CPU µs/call':>12} {'p50 / direct':>13} {'CPU / direct':>13}")
    for name, values in latencies.items():
        values.sort()
        p50 = statistics.median(values)
        p90 = values[int(len(values) * 0.9)]
        per_call = cpu[name] / len(values)
        print(
            f"{name:8} {p50 * 1e6:9.0f} {p90 * 1e6:9.0f} {per_call * 1e6:12.0f} {p50 / base_p50:13.2f} {per_call / base_cpu:13.2f}"
        )
    print("\nCPU: direct and janus count this process (client loop included); stdio counts the gateway child only.")
    runtime.close()
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
