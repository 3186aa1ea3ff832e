"""Janus over HTTP against a direct call and against FastMCP.from_openapi, on one fast upstream.

One run starts, all on 127.0.0.1:
  nginx     Debian's nginx-light + echo module: GET /dpg/trade-volume?member_id=… -> a fixed JSON
            document (member_id echoed), /openapi.json describing it
  janus     `mcp-gateway` (gunicorn, WEB_CONCURRENCY=2 gevent workers), connection prefix bench_,
            endpoint trade_volume, one client token; rows written with the app factory before start
  peer      FastMCP.from_openapi over the same document (bench/http_fastmcp_peer.py, bench/.venv-peer):
            Streamable HTTP, stateless, JSON responses
  minimal   bench/http_minimal_worker.py: a raw WSGI app under the same gunicorn + gevent (same
            interpreter, same worker count) doing the same upstream GET with urllib3 and answering
            the same CallToolResult; the calibration floor for a gevent worker on this machine

and measures, one target after the other, at each concurrency (default 1 and 16):
  direct         wrk GET on nginx (the floor)
  minimal        wrk POST /mcp tools/call on the minimal gevent worker, same body, headers, validation
  janus-http     wrk POST /mcp tools/call bench_trade_volume, one initialized session (Mcp-Session-Id)
  janus-sse      legacy GET /sse + POST /messages (202), result read as `event: message`;
                 driven by bench/http_pyclient.py (wrk cannot see the event), one session per unit
  peer           wrk POST /mcp tools/call on FastMCP, same body, headers and validation
  janus-http-py  janus-http driven by the Python client: the client's own cost next to janus-sse's
                 (also direct-py, peer-py on request)

Each run: a warm-up (not counted), then a fixed duration; every response is checked against the
upstream document (wrk: in the Lua response callback). Per target: req/s, p50, p99, errors, the
server's CPU µs per call (utime + stime of its whole process tree from /proc, before/after),
peak summed RSS of the tree, ratios to the peer in the same run, and below the table every row's
CPU per call, p50 and req/s as ratios to `minimal` at the same concurrency and client (the
machine-independent numbers: "Janus costs N× a minimal gevent worker"). A target that fails its
readiness probe is reported as unavailable. --profile adds one more concurrency-16 janus-http run
with `py-spy record` on a worker: flamegraph SVG + top functions in the results directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import http_flamegraph
import http_pyclient as pyc
import http_servers as hs
from http_report import Row, add_ratios, combine, cpu_split_lines, table

ALL_TARGETS = [
    "direct",
    "minimal",
    "janus-http",
    "janus-sse",
    "peer",
    "janus-http-py",
    "direct-py",
    "peer-py",
    "minimal-py",
]
DEFAULT_TARGETS = "direct,minimal,janus-http,janus-sse,peer,janus-http-py"  # minimal next to janus-http
ARGS = {"member_id": hs.MEMBER_ID}
CALL_BODY = pyc.tools_call(hs.TOOL_NAME, ARGS)


@dataclass
class Target:
    name: str
    server: hs.Server | None = None
    driver: str = "wrk"  # wrk | plain | sse
    url: str = ""
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = CALL_BODY
    unavailable: str | None = None
    notes: str = ""


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # Whole seconds: wrk reads "-d2s", not "-d2.5s".
    p.add_argument("--duration", type=int, default=10, help="seconds per measured run (max 60)")
    p.add_argument("--warmup", type=int, default=2, help="seconds of uncounted load before each run (max 10)")
    p.add_argument("--concurrency", default="1,16", help="comma-separated, each 1..64, at most 4 values")
    p.add_argument("--targets", default=DEFAULT_TARGETS, help=f"comma-separated from {','.join(ALL_TARGETS)}")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat the whole sequence of targets this often per concurrency (max 10), each run "
        "--duration long; rows then add up requests and CPU, take the median p50 and the worst p99",
    )
    p.add_argument("--max-calls", type=int, default=2_000_000, help="cap on calls per run (per wrk thread for wrk)")
    p.add_argument("--max-seconds", type=float, default=900, help="whole-run budget; later runs are skipped")
    p.add_argument("--workers", type=int, default=2, help="Janus WEB_CONCURRENCY")
    p.add_argument("--profile", action="store_true", help="py-spy one Janus worker in an extra c=16 janus-http run")
    p.add_argument("--results", type=Path, default=hs.BENCH / "results", help="results root (git-ignored)")
    p.add_argument(
        "--gateway",
        default=shutil.which("mcp-gateway", path=str(Path(sys.executable).parent)) or "mcp-gateway",
        help="mcp-gateway executable (default: next to this Python)",
    )
    p.add_argument("--peer-python", default=str(hs.BENCH / ".venv-peer" / "bin" / "python"))
    p.add_argument(
        "--minimal-python",
        default=sys.executable,
        help="interpreter whose gunicorn + gevent serve the minimal worker (default: this one, "
        "i.e. Janus's venv under scripts/bench-http)",
    )
    p.add_argument("--py-spy", default=None, help="py-spy executable (default: bench/.venv-peer/bin/py-spy or PATH)")
    p.add_argument("--nginx", default="nginx")
    p.add_argument("--wrk", default="wrk")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (configs, logs, database)")
    a = p.parse_args()
    a.duration = min(max(a.duration, 1), 60)
    a.warmup = min(max(a.warmup, 0), 10)
    a.levels = sorted({min(max(int(c), 1), 64) for c in a.concurrency.split(",") if c.strip()})[:4]
    a.targets = [t for t in a.targets.split(",") if t.strip()]
    unknown = set(a.targets) - set(ALL_TARGETS)
    if unknown:
        p.error(f"unknown targets: {', '.join(sorted(unknown))}")
    a.rounds = min(max(a.rounds, 1), 10)
    a.max_calls = min(max(a.max_calls, 1), 10_000_000)
    return a


# --- getting targets ready ---------------------------------------------------------------


def _probe_http(url: str, token: str | None) -> pyc.McpHttpSession:
    """initialize + notifications/initialized + one validated tools/call over a fresh connection."""

    async def go() -> pyc.McpHttpSession:
        session = pyc.McpHttpSession(url, token)
        conn = await pyc.HttpConn(url).open()
        try:
            await asyncio.wait_for(session.handshake(conn), 15)
            status, body = await asyncio.wait_for(session.call(conn, CALL_BODY.replace("__ID__", "1")), 15)
        finally:
            conn.close()
        if not pyc.is_expected(status, body, hs.EXPECTED_DOC):
            raise hs.Unavailable(f"tools/call probe answered {status}: {body[:200]}")
        return session

    try:
        return asyncio.run(go())
    except hs.Unavailable:
        raise
    except (TimeoutError, OSError, ConnectionError, ValueError, KeyError, asyncio.IncompleteReadError) as exc:
        raise hs.Unavailable(f"handshake failed: {type(exc).__name__}: {exc}") from None


def _probe_sse(base_url: str, token: str) -> None:
    async def go() -> None:
        session = pyc.SseSession(base_url, token)
        try:
            await session.open()
            _, data = await session.call_raw(999_999, CALL_BODY.replace("__ID__", "999999"), 15)
        finally:
            session.close()
        if not pyc.is_expected(200, data, hs.EXPECTED_DOC):
            raise hs.Unavailable(f"tools/call probe over SSE answered: {data[:200]}")

    try:
        asyncio.run(go())
    except hs.Unavailable:
        raise
    except (TimeoutError, OSError, ConnectionError, ValueError, KeyError, asyncio.IncompleteReadError) as exc:
        raise hs.Unavailable(f"SSE probe failed: {type(exc).__name__}: {exc}") from None


def prepare_targets(
    names: list[str], nginx: hs.Server, janus, peer, minimal, token: str, wrk_ok: str | None
) -> list[Target]:
    targets = []
    sessions: dict[str, pyc.McpHttpSession | Exception] = {}

    def session_for(key: str, server, token_: str | None) -> pyc.McpHttpSession:
        if key not in sessions:
            try:
                if isinstance(server, str):
                    raise hs.Unavailable(server)
                sessions[key] = _probe_http(server.url + "/mcp", token_)
            except hs.Unavailable as exc:
                sessions[key] = exc
        if isinstance(sessions[key], Exception):
            raise sessions[key]
        return sessions[key]

    for name in names:
        base = name.removesuffix("-py")
        t = Target(name, driver="sse" if base == "janus-sse" else "plain" if name.endswith("-py") else "wrk")
        try:
            if t.driver == "wrk" and wrk_ok:
                raise hs.Unavailable(wrk_ok)
            if base == "direct":
                t.server, t.method, t.body = nginx, "GET", None
                t.url = f"{nginx.url}{hs.TRADE_VOLUME_PATH}?member_id={hs.MEMBER_ID}"
            elif base in ("janus-http", "peer", "minimal"):
                server = {"janus-http": janus, "peer": peer, "minimal": minimal}[base]
                session = session_for(base, server, token)
                t.server, t.url, t.headers = server, session.url, session.headers()
                t.notes = (
                    f"session {'yes' if session.session_id else 'none (stateless)'}, "
                    f"answer {session.content_type or 'n/a'}, protocol {session.protocol_version}"
                )
            elif base == "janus-sse":
                if isinstance(janus, str):
                    raise hs.Unavailable(janus)
                _probe_sse(janus.url, token)
                t.server, t.url = janus, janus.url
        except hs.Unavailable as exc:
            t.unavailable = str(exc).splitlines()[0][:160] if str(exc) else "unavailable"
        targets.append(t)
    return targets


# --- running a target ----------------------------------------------------------------------


def run_wrk(args, t: Target, concurrency: int, seconds: float) -> dict:
    threads = min(concurrency, os.cpu_count() or 1)
    env = {
        **os.environ,
        "WRK_METHOD": t.method,
        "WRK_BODY": t.body or "",
        "WRK_EXPECT": hs.EXPECTED_DOC,
        "WRK_HEADERS": "\n".join(f"{k}: {v}" for k, v in t.headers.items()),
        "WRK_MAX_REQUESTS": str(args.max_calls),
    }
    argv = [
        args.wrk,
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{int(seconds)}s",
        "--timeout",
        "10s",
        "-s",
        str(hs.BENCH / "http_mcp_call.lua"),
        t.url,
    ]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 60)
    for line in done.stdout.splitlines():
        if line.startswith("WRK_RESULT "):
            return json.loads(line[len("WRK_RESULT ") :])
    raise RuntimeError(f"wrk printed no result (exit {done.returncode}): {(done.stderr + done.stdout).strip()[:300]}")


def run_python(args, t: Target, concurrency: int, seconds: float, token: str) -> pyc.LoadResult:
    if t.driver == "sse":
        coro = pyc.run_sse_load(t.url, token, hs.TOOL_NAME, ARGS, hs.EXPECTED_DOC, concurrency, seconds, args.max_calls)
    else:
        coro = pyc.run_plain_load(
            t.url, t.method, t.headers, t.body, hs.EXPECTED_DOC, concurrency, seconds, args.max_calls
        )
    return asyncio.run(asyncio.wait_for(coro, seconds + 60))


def measure(args, t: Target, concurrency: int, token: str, warmup: bool = True) -> Row:
    row = Row(t.name, concurrency, client="wrk" if t.driver == "wrk" else "py")
    if t.unavailable:
        row.status = f"unavailable: {t.unavailable}"
        return row
    try:
        if warmup and args.warmup:
            _load(args, t, concurrency, args.warmup, token)
        tree = t.server.tree
        before = tree.cpu_by_pid()
        with hs.RssSampler(tree) as rss, hs.CpuWatch(args.trees) as machine:
            result = _load(args, t, concurrency, args.duration, token)
        after = tree.cpu_by_pid()
        row.cpu_split = {str(pid): round(after[pid] - before.get(pid, 0.0), 2) for pid in after}
        cpu = sum(row.cpu_split.values())
    except (TimeoutError, RuntimeError, OSError, subprocess.TimeoutExpired, ConnectionError) as exc:
        row.status = f"failed: {type(exc).__name__}: {str(exc)[:160]}"
        return row
    row.peak_rss_mib = rss.peak / 2**20
    row.others_cpu_pct = machine.others_pct
    if isinstance(result, dict):  # wrk
        row.requests, row.seconds = result["requests"], result["duration_us"] / 1e6
        row.p50_ms, row.p99_ms = result["p50_us"] / 1e3, result["p99_us"] / 1e3
        row.errors = result["mismatches"] + sum(result[k] for k in ("connect", "read", "write", "timeout"))
        row.error_sample = result.get("sample")
        if result.get("capped"):
            row.status = "capped (--max-calls reached: req/s understated)"
    else:
        lat = sorted(result.latencies)
        row.requests, row.seconds, row.errors = len(lat) + result.errors, result.duration, result.errors
        row.error_sample = result.sample
        if lat:
            row.p50_ms = statistics.median(lat) * 1e3
            row.p99_ms = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3
        if row.requests >= args.max_calls:
            row.status = "capped (--max-calls reached)"
    row.cpu_seconds = cpu
    row.rps = row.requests / row.seconds if row.seconds else 0.0
    row.cpu_us_per_call = cpu / row.requests * 1e6 if row.requests else 0.0
    return row


def _load(args, t: Target, concurrency: int, seconds: float, token: str):
    if t.driver == "wrk":
        return run_wrk(args, t, concurrency, seconds)
    return run_python(args, t, concurrency, seconds, token)


def profile_janus(args, t: Target, concurrency: int, token: str, out: Path) -> tuple[Row, str]:
    """One more janus-http run under `py-spy record`: raw stacks of the busiest worker -> SVG + text.

    py-spy follows the gunicorn master's workers (--subprocesses): which worker accepts the run's
    keep-alive connections is only known afterwards, so the worker with the most samples is kept.
    """
    name = t.name + "+py-spy"
    candidates = (args.py_spy, str(hs.BENCH / ".venv-peer" / "bin" / "py-spy"), shutil.which("py-spy"))
    spy = next((p for p in candidates if p and os.path.exists(p)), None)
    if not spy:
        return Row(name, concurrency, status="unavailable: py-spy not installed"), ""
    if args.warmup:
        _load(args, t, concurrency, args.warmup, token)
    raw = out / "janus-http-pyspy.raw.txt"
    spy_proc = subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(t.server.proc.pid),
            "--subprocesses",
            "--duration",
            str(args.duration + 1),
            "--rate",
            "200",
            "--function",
            "--format",
            "raw",
            "--output",
            str(raw),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=hs.die_with_parent,
    )
    try:
        time.sleep(0.5)  # py-spy attaches before the load starts
        row = measure(args, t, concurrency, token, warmup=False)
    finally:
        try:
            _, err = spy_proc.communicate(timeout=args.duration + 30)
        except subprocess.TimeoutExpired:
            spy_proc.kill()
            _, err = spy_proc.communicate()
    row.target = name
    if not raw.exists():
        return row, f"py-spy wrote nothing (exit {spy_proc.returncode}): {(err or '').strip()[-300:]}"
    per_process = http_flamegraph.by_process(http_flamegraph.read_stacks(raw))
    per_process.pop(t.server.proc.pid, None)  # the master only waits
    if not per_process:
        return row, f"py-spy recorded no worker samples: {(err or '').strip()[-300:]}"
    counts = {pid: sum(c for _, c in stacks) for pid, stacks in per_process.items()}
    worker = max(counts, key=counts.get)
    title = f"Janus worker {worker}: tools/call over Streamable HTTP, concurrency {concurrency}"
    http_flamegraph.render(
        raw, out / "janus-http-flamegraph.svg", out / "janus-http-top-functions.txt", title, stacks=per_process[worker]
    )
    split = ", ".join(f"{pid}: {n}" for pid, n in sorted(counts.items()))
    return row, (
        f"py-spy: worker {worker} ({counts[worker]} samples; all workers {split}) -> "
        f"{out}/janus-http-flamegraph.svg, janus-http-top-functions.txt, janus-http-pyspy.raw.txt"
    )


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally below: stop every server
    args.trees = []
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="janus-http-bench-"))
    out = args.results / time.strftime("http-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"  # children inherit: loopback only
    token = "bench_token_" + secrets.token_hex(12)
    servers: list[hs.Server] = []
    notes: list[str] = []
    try:
        deadline = time.monotonic() + 60
        try:
            nginx = hs.start_nginx(workdir, args.nginx, deadline)
        except hs.Unavailable as exc:
            print(f"http_benchmark: the upstream could not start, nothing to measure: {exc}", file=sys.stderr)
            return 2
        servers.append(nginx)
        janus: hs.Server | str = "not requested"
        if any(t.startswith("janus") for t in args.targets):
            try:
                hs.write_janus_catalog(workdir, nginx.url, token)
                janus = hs.start_janus(workdir, args.gateway, args.workers, time.monotonic() + 90)
                servers.append(janus)
            except hs.Unavailable as exc:
                janus = str(exc)
        peer: hs.Server | str = "not requested"
        if any(t.startswith("peer") for t in args.targets):
            try:
                peer = hs.start_peer(workdir, args.peer_python, nginx.url, time.monotonic() + 60)
                servers.append(peer)
            except hs.Unavailable as exc:
                peer = str(exc)
        minimal: hs.Server | str = "not requested"
        if any(t.startswith("minimal") for t in args.targets):
            try:
                minimal = hs.start_minimal(workdir, args.minimal_python, nginx.url, args.workers, time.monotonic() + 60)
                servers.append(minimal)
            except hs.Unavailable as exc:
                minimal = str(exc)
        args.trees = [s.tree for s in servers]
        wrk_missing = None if shutil.which(args.wrk) else f"{args.wrk} not found (apt-get install wrk)"
        targets = prepare_targets(args.targets, nginx, janus, peer, minimal, token, wrk_missing)
        for t in targets:
            state = f"unavailable: {t.unavailable}" if t.unavailable else f"ready ({t.notes})" if t.notes else "ready"
            print(f"{t.name:14} {state}", flush=True)

        rows: list[Row] = []
        turn = 0
        for level in args.levels:
            runs: dict[str, list[Row]] = {t.name: [] for t in targets}
            for round_no in range(args.rounds):
                order = targets if turn % 2 == 0 else list(reversed(targets))  # drift hits both ends alike
                turn += 1
                for t in order:
                    if time.monotonic() - started > args.max_seconds:
                        runs[t.name].append(Row(t.name, level, status="unavailable: skipped, --max-seconds spent"))
                        continue
                    print(f"  c={level:<3} round {round_no + 1}/{args.rounds} {t.name} …", flush=True)
                    runs[t.name].append(measure(args, t, level, token, warmup=round_no == 0))
            rows += [combine(runs[t.name]) for t in targets]
        if args.profile:
            jt = next((t for t in targets if t.name == "janus-http"), None)
            level = 16 if 16 in args.levels else max(args.levels)
            if jt is None or jt.unavailable:
                notes.append(f"--profile: janus-http {'unavailable' if jt else 'not among targets'}; nothing profiled")
            else:
                row, note = profile_janus(args, jt, level, token, out)
                rows.append(row)
                notes.append(note)
        add_ratios(rows)
        vs_minimal = minimal_ratios(rows)

        text = table(rows) + "\n\n" + minimal_lines(vs_minimal)
        info = (
            f"{args.duration:g} s per run after {args.warmup:g} s warm-up, {args.rounds} round(s); "
            f"targets one after the other "
            f"(order reversed at every other concurrency); {os.cpu_count()} CPUs shared by client and servers.\n"
            f"CPU and RSS: the server's process tree (nginx master+worker / gunicorn master+{args.workers} "
            f"workers for Janus and for minimal / the FastMCP process); RSS summed over the tree.\n"
            f"minimal: raw WSGI app (bench/http_minimal_worker.py), {minimal_version(args.minimal_python)}, "
            f"{args.workers} gevent workers, one urllib3 keep-alive pool; no auth, session, catalog or audit.\n"
            f"peer: FastMCP.from_openapi, {peer_version(args.peer_python)}; "
            f"Streamable HTTP, stateless, JSON responses."
        )
        print("\n" + text + "\n\n" + info)
        print("\n" + cpu_split_lines(rows))
        for r in rows:
            if r.errors and r.error_sample:
                print(f"first error of {r.target} c={r.concurrency}: {r.error_sample[:200]}")
        for n in notes:
            print(n)
        (out / "table.txt").write_text(text + "\n\n" + info + "\n" + "\n".join(notes) + "\n")
        (out / "results.json").write_text(
            json.dumps(
                {
                    "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "trees"},
                    "targets": [
                        {
                            "name": t.name,
                            "driver": t.driver,
                            "url": t.url,
                            "unavailable": t.unavailable,
                            "notes": t.notes,
                        }
                        for t in targets
                    ],
                    "rows": [asdict(r) for r in rows],
                    "vs_minimal": vs_minimal,
                    "notes": notes,
                },
                indent=2,
            )
        )
        print(f"results: {out}")
        return 0
    finally:
        for server in reversed(servers):
            server.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


# --- ratios to the minimal gevent worker ---------------------------------------------------


def minimal_ratios(rows: list[Row]) -> list[dict]:
    """Each measured row against `minimal` (wrk rows) or `minimal-py` (Python-client rows) at its concurrency.

    The profiled row (+py-spy) is left out: the profiler's cost is not the server's.
    """

    def ok(r: Row) -> bool:
        return r.requests > 0 and not r.status.startswith(("unavailable", "failed"))

    base = {(r.concurrency, r.client): r for r in rows if r.target in ("minimal", "minimal-py") and ok(r)}
    out = []
    for r in rows:
        m = base.get((r.concurrency, r.client))
        if not m or r is m or "+" in r.target or not ok(r) or r.target.startswith("direct"):
            continue
        out.append(
            {
                "target": r.target,
                "concurrency": r.concurrency,
                "client": r.client,
                "minimal": m.target,
                "cpu_us_per_call": round(r.cpu_us_per_call, 1),
                "minimal_cpu_us_per_call": round(m.cpu_us_per_call, 1),
                "cpu": r.cpu_us_per_call / m.cpu_us_per_call if m.cpu_us_per_call else 0.0,
                "p50_ms": round(r.p50_ms, 3),
                "minimal_p50_ms": round(m.p50_ms, 3),
                "p50": r.p50_ms / m.p50_ms if m.p50_ms else 0.0,
                "rps": r.rps / m.rps if m.rps else 0.0,
            }
        )
    return out


def minimal_lines(ratios: list[dict]) -> str:
    if not ratios:
        return (
            "÷ minimal: nothing to compare (needs a measured `minimal` row and another target "
            "at the same concurrency and client)"
        )
    lines = ["÷ minimal (same run, concurrency and client; the machine-independent numbers):"]
    for x in ratios:
        lines.append(
            f"  {x['target']:14} c={x['concurrency']:<3} CPU/call {x['cpu']:5.2f}× "
            f"({x['cpu_us_per_call']:.0f} vs {x['minimal_cpu_us_per_call']:.0f} µs)   "
            f"p50 {x['p50']:5.2f}× ({x['p50_ms']:.2f} vs {x['minimal_p50_ms']:.2f} ms)   "
            f"req/s {x['rps']:5.2f}×"
        )
    return "\n".join(lines)


def minimal_version(python: str) -> str:
    code = (
        "import importlib.metadata as m; "
        "print(', '.join(f'{n} {m.version(n)}' for n in ('gunicorn', 'gevent', 'urllib3')))"
    )
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
        return done.stdout.strip() or "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


# uvicorn's defaults pick uvloop and httptools when installed; the plain `fastmcp` install has neither.
_PEER_VERSIONS = """
import importlib.metadata as m, importlib.util as u
v = lambda n: m.version(n)
loop = "uvloop" if u.find_spec("uvloop") else "asyncio"
parser = "httptools" if u.find_spec("httptools") else "h11"
print(f"fastmcp {v('fastmcp')} (mcp {v('mcp')}, uvicorn {v('uvicorn')} with {loop} loop and {parser})")
"""


def peer_version(python: str) -> str:
    try:
        done = subprocess.run([python, "-c", _PEER_VERSIONS], capture_output=True, text=True, timeout=60)
        return done.stdout.strip() or "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


if __name__ == "__main__":
    sys.exit(main())
