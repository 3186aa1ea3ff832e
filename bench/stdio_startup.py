"""Time from starting `mcp-gateway -stdio` to its first tools/list answer (goal: under 0.5 s)."""

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
GATEWAY = shutil.which("mcp-gateway", path=str(Path(sys.executable).parent)) or "mcp-gateway"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="janus-bench-")
    env = {
        **os.environ,
        "DATABASE_PATH": f"{workdir}/mcp-gateway.db",
        "VAULT_LOCAL_PATH": f"{workdir}/secrets.json",
        "SEED_DEMO_DATA": "true",
        "ADMIN_PASSWORD": "bench-admin-password",
        "LOG_LEVEL": "WARNING",
        "MCP_GATEWAY_TOKEN": "lch_member_test_token_889",
    }
    subprocess.run([GATEWAY, "-stdio"], input=b"", env=env, check=True, capture_output=True)  # migrate + seed once
    request = b'{"jsonrpc":"2.0","method":"tools/list","id":1}\n'
    times = []
    for _ in range(min(args.runs, 100)):
        started = time.perf_counter()
        proc = subprocess.Popen(
            [GATEWAY, "-stdio"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
        )
        proc.stdin.write(request)
        proc.stdin.flush()
        line = proc.stdout.readline()
        times.append(time.perf_counter() - started)
        proc.stdin.close()
        proc.wait(30)
        assert b'"lch_get_dpg_trade_volume"' in line, line
    times.sort()
    print(
        f"mcp-gateway -stdio, start to first tools/list answer over {len(times)} runs: "
        f"p50 {statistics.median(times) * 1000:.0f} ms, min {times[0] * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms"
    )
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
