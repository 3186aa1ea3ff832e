"""The servers bench/http_benchmark.py measures, and what each one costs.

nginx (the upstream), Janus (`mcp-gateway`: gunicorn master + gevent workers),
the minimal gevent worker (bench/http_minimal_worker.py under the same gunicorn)
and the FastMCP peer each run as real processes on 127.0.0.1. A ProcTree is one
server's process tree as /proc shows it: CPU ticks (utime + stime of every
process in the tree) and resident memory (sum of VmRSS, sampled). Summed RSS
counts pages a forked worker still shares with its master once per process.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"
MEMBER_ID = "MEM-LCH-001"
# The upstream document with the member id as sent; compact, ASCII, no spaces, so
# "remove whitespace and backslashes" turns any JSON encoding of it back into this.
DOC_TEMPLATE = (
    '{"member_id":"%s","total_trades":2540,"currency_breakdown":['
    '{"currency":"GBP","trade_count":1210},{"currency":"EUR","trade_count":845},'
    '{"currency":"USD","trade_count":402},{"currency":"JPY","trade_count":61},'
    '{"currency":"CHF","trade_count":22}],"period":"2026-Q3"}'
)
EXPECTED_DOC = DOC_TEMPLATE % MEMBER_ID
TRADE_VOLUME_PATH = "/dpg/trade-volume"
TOOL_NAME = "bench_trade_volume"
INPUT_SCHEMA = {"type": "object", "properties": {"member_id": {"type": "string"}}, "required": ["member_id"]}


class Unavailable(Exception):
    """A target that failed to start or to pass its readiness probe; reported, not raised further."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Unavailable(f"exited with status {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise Unavailable(f"not listening on 127.0.0.1:{port} in time")


def log_tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class ProcTree:
    """CPU and memory of a process and all its descendants, read from /proc."""

    def __init__(self, pid: int):
        self.pid = pid

    def pids(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                stat = _stat(int(entry.name))
                if stat:
                    children.setdefault(int(stat[1]), []).append(int(entry.name))
        found, todo = [], [self.pid]
        while todo and len(found) < 1000:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, ()))
        return found

    def cpu_seconds(self) -> float:
        return sum(self.cpu_by_pid().values())

    def cpu_by_pid(self) -> dict[int, float]:
        """utime + stime (fields 14 and 15) of each process in the tree, in seconds."""
        return {pid: _ticks(pid) / CLK_TCK for pid in self.pids()}

    def rss_bytes(self) -> int:
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/status") as fh:
                    for line in fh:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) * 1024
                            break
            except OSError:
                pass
        return total

    def children(self) -> list[int]:
        return [p for p in self.pids() if p != self.pid]

    def busiest_child(self) -> int | None:
        best = max(((_ticks(p), p) for p in self.children()), default=None)
        return best[1] if best else None


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from 3 (state) on; comm may hold spaces


def _ticks(pid: int) -> int:
    stat = _stat(pid)
    return int(stat[11]) + int(stat[12]) if stat else 0


class CpuWatch:
    """Who used the CPUs during a run: the bench's own processes (servers + client) or anybody else.

    `others` is machine-wide busy time (/proc/stat user, nice, system and steal) minus the servers'
    trees and the load client, in percent of one core: a noisy neighbour shows up here instead of
    hiding in the ratios.
    """

    def __init__(self, trees: list[ProcTree]):
        self.trees = trees
        self.others_pct = 0.0

    def __enter__(self) -> CpuWatch:
        import resource

        self._t0 = time.monotonic()
        self._busy0 = _machine_busy()
        self._ours0 = sum(t.cpu_seconds() for t in self.trees)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it has been waited for
        self._client0 = time.process_time() + children.ru_utime + children.ru_stime
        return self

    def __exit__(self, *exc) -> None:
        import resource

        wall = time.monotonic() - self._t0
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        client = time.process_time() + children.ru_utime + children.ru_stime - self._client0
        ours = sum(t.cpu_seconds() for t in self.trees) - self._ours0 + client
        others = _machine_busy() - self._busy0 - ours
        self.others_pct = max(0.0, 100 * others / wall) if wall else 0.0


def _machine_busy() -> float:
    """user + nice + system + steal of all CPUs. irq/softirq time is left out: the loopback traffic
    of the run itself is processed there and belongs to no process."""
    with open("/proc/stat") as fh:
        f = [int(v) for v in fh.readline().split()[1:]]  # user nice system idle iowait irq softirq steal …
    return (f[0] + f[1] + f[2] + (f[7] if len(f) > 7 else 0)) / CLK_TCK


class RssSampler:
    """Peak of a tree's summed RSS, sampled in a thread while a run lasts."""

    def __init__(self, tree: ProcTree, interval: float = 0.2):
        self.tree, self.interval, self.peak = tree, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> RssSampler:
        self.peak = self.tree.rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self.peak = max(self.peak, self.tree.rss_bytes())

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.tree.rss_bytes())


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    url: str
    log: Path
    tree: ProcTree = field(init=False)

    def __post_init__(self) -> None:
        self.tree = ProcTree(self.proc.pid)

    def stop(self, sig: int = signal.SIGTERM, grace: float = 15.0) -> None:
        if self.proc.poll() is not None:
            return
        leftovers = self.tree.children()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        for pid in leftovers:  # a worker its master failed to reap (only pids this server started)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def die_with_parent() -> None:
    """preexec_fn: SIGTERM this child when the benchmark dies, even by SIGKILL (survives exec)."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _popen(argv: list[str], log: Path, env: dict | None = None, cwd: Path | None = None) -> subprocess.Popen:
    try:
        with open(log, "ab") as out:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
    except OSError as exc:
        raise Unavailable(f"cannot start {argv[0]}: {exc.strerror or exc}") from None


def openapi_document(upstream: str) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "DPG trade volume (bench)", "version": "1.0.0"},
        "servers": [{"url": upstream}],
        "paths": {
            TRADE_VOLUME_PATH: {
                "get": {
                    "operationId": TOOL_NAME,
                    "summary": "Trade volume of a clearing member",
                    "parameters": [
                        {"name": "member_id", "in": "query", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {
                            "description": "Trade volume",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "member_id": {"type": "string"},
                                            "total_trades": {"type": "integer"},
                                            "period": {"type": "string"},
                                            "currency_breakdown": {
                                                "type": "array",
                                                "items": {
                                                    "type": "object",
                                                    "properties": {
                                                        "currency": {"type": "string"},
                                                        "trade_count": {"type": "integer"},
                                                    },
                                                },
                                            },
                                        },
                                    }
                                }
                            },
                        }
                    },
                }
            }
        },
    }


def start_nginx(workdir: Path, nginx: str, deadline: float) -> Server:
    """nginx from a generated config in workdir: one worker, no access log, unprivileged port."""
    if not shutil.which(nginx):
        raise Unavailable(f"{nginx} not found (scripts/bench-http installs nginx-light)")
    if not os.path.exists(ECHO_MODULE):
        raise Unavailable(f"{ECHO_MODULE} missing (apt-get install libnginx-mod-http-echo)")
    prefix = workdir / "nginx"
    prefix.mkdir()
    # Workers drop to 'nobody' when nginx runs as root: they must be able to read the prefix.
    os.chmod(workdir, 0o755)  # noqa: S103 - a throwaway benchmark directory, readable on purpose
    os.chmod(prefix, 0o755)  # noqa: S103
    port = free_port()
    upstream = f"http://127.0.0.1:{port}"
    conf = (BENCH / "http_nginx.conf.template").read_text()
    for key, value in {
        "ECHO_MODULE": ECHO_MODULE,
        "PREFIX": str(prefix),
        "PORT": str(port),
        "TRADE_VOLUME_JSON": DOC_TEMPLATE % "$arg_member_id",
    }.items():
        conf = conf.replace(f"@@{key}@@", value)
    (prefix / "nginx.conf").write_text(conf)
    (prefix / "openapi.json").write_text(json.dumps(openapi_document(upstream), indent=1))
    os.chmod(prefix / "openapi.json", 0o644)
    log = workdir / "nginx.out"
    test = subprocess.run(
        [nginx, "-t", "-q", "-e", str(prefix / "error.log"), "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if test.returncode:
        raise Unavailable(f"nginx -t failed: {(test.stderr or test.stdout).strip()}")
    proc = _popen([nginx, "-e", str(prefix / "error.log"), "-p", str(prefix), "-c", str(prefix / "nginx.conf")], log)
    server = Server("nginx", proc, upstream, prefix / "error.log")
    try:
        wait_for_port(port, proc, deadline)
    except Unavailable as exc:
        server.stop()
        raise Unavailable(f"nginx {exc}: {log_tail(prefix / 'error.log')}") from None
    return server


def write_janus_catalog(workdir: Path, upstream: str, token: str) -> None:
    """The connection, endpoint and client token, written with the app factory before Janus starts."""
    sys.path.insert(0, str(ROOT))
    from janus import create_app
    from janus.extensions import db
    from janus.gateway.catalog import hash_token
    from janus.models import ClientToken, Connection, Endpoint
    from janus.services.bootstrap import ensure_schema
    from janus.services.token_key import server_key

    app = create_app(
        {
            "DATABASE_PATH": str(workdir / "bench.db"),
            "VAULT_LOCAL_PATH": str(workdir / "secrets.json"),
            "LOG_LEVEL": "WARNING",
            "ADMIN_PASSWORD": "bench-admin-password",
        }
    )
    with app.app_context():
        ensure_schema()
        conn = Connection(name="Bench", base_url=upstream, prefix="bench_", timeout_seconds=10)
        conn.endpoints = [
            Endpoint(tool_name="trade_volume", path_template=TRADE_VOLUME_PATH, method="GET", input_schema=INPUT_SCHEMA)
        ]
        db.session.add(conn)
        db.session.add(ClientToken(name="bench", token_hash=hash_token(token, server_key(app)), scopes="bench_*"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def start_janus(workdir: Path, gateway: str, workers: int, deadline: float) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SEED_DEMO_DATA", "PUBLIC_URL"}}
    env.update(
        PORT=str(port),
        HOST="127.0.0.1",
        WEB_CONCURRENCY=str(workers),
        DATABASE_PATH=str(workdir / "bench.db"),
        VAULT_LOCAL_PATH=str(workdir / "secrets.json"),
        ADMIN_PASSWORD="bench-admin-password",
        LOG_LEVEL="WARNING",
        JWT_SECRET=secrets.token_urlsafe(32),
        PYTHONUNBUFFERED="1",
        # Every benchmark client shares one token and one address: lift the per-token stream cap
        # (16 legacy SSE streams at c=16) so the load measures calls, not the refusals.
        SSE_MAX_STREAMS_PER_TOKEN="0",
        # ... and its request rate: a limit far above what the load reaches, so every call still pays for
        # being counted (in this process's memory; REDIS_URL from the environment shares them) but none is
        # refused. The default 50/s would measure 429s.
        MCP_RATE_PER_CLIENT="1000000",
        MCP_BURST_PER_CLIENT="1000000",
    )
    log = workdir / "janus.out"
    proc = _popen([gateway], log, env)
    server = Server("janus", proc, f"http://127.0.0.1:{port}", log)
    try:
        wait_for_port(port, proc, deadline)
        _wait_http_ok(server.url + "/healthz", proc, deadline)
    except Unavailable as exc:
        server.stop()
        raise Unavailable(f"mcp-gateway {exc}: {log_tail(log, 4)}") from None
    return server


def start_peer(workdir: Path, python: str, upstream: str, deadline: float) -> Server:
    if not os.path.exists(python):
        raise Unavailable(f"peer interpreter {python} missing (scripts/bench-http builds bench/.venv-peer)")
    port = free_port()
    log = workdir / "peer.out"
    proc = _popen(
        [
            python,
            str(BENCH / "http_fastmcp_peer.py"),
            "--openapi-url",
            upstream + "/openapi.json",
            "--upstream",
            upstream,
            "--port",
            str(port),
        ],
        log,
    )
    server = Server("peer", proc, f"http://127.0.0.1:{port}", log)
    try:
        wait_for_port(port, proc, deadline)
    except Unavailable as exc:
        server.stop()
        raise Unavailable(f"fastmcp peer {exc}: {log_tail(log, 4)}") from None
    return server


def start_minimal(workdir: Path, python: str, upstream: str, workers: int, deadline: float) -> Server:
    """bench/http_minimal_worker.py under gunicorn with Janus's worker settings (gevent, same interpreter).

    Started in bench/: gunicorn loads ./gunicorn.conf.py from the directory it starts in (before
    --chdir applies), and the repository root's one is Janus's (hooks, bind, workers); bench/ has
    none. GUNICORN_CMD_ARGS is dropped for the same reason.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "GUNICORN_CMD_ARGS"}
    env.update(MINIMAL_UPSTREAM_URL=upstream + TRADE_VOLUME_PATH, MINIMAL_TOOL=TOOL_NAME, PYTHONUNBUFFERED="1")
    log = workdir / "minimal.out"
    proc = _popen(
        [
            python,
            "-m",
            "gunicorn",
            "--chdir",
            str(BENCH),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gevent",
            "--worker-connections",
            "1000",
            "--timeout",
            "30",
            "--graceful-timeout",
            "10",
            "--keep-alive",
            "5",
            "--log-level",
            "warning",
            "--name",
            "bench-minimal",
            # Recent gunicorn opens a control socket in the master, by default at one per-user path
            # Janus's master uses too: this one gets its own (older gunicorn has no such option).
            *(["--control-socket", str(workdir / "minimal-gunicorn.ctl")] if _gunicorn_has_control(python) else []),
            "http_minimal_worker:app",
        ],
        log,
        env,
        cwd=BENCH,
    )
    server = Server("minimal", proc, f"http://127.0.0.1:{port}", log)
    try:
        wait_for_port(port, proc, deadline)
    except Unavailable as exc:
        server.stop()
        raise Unavailable(f"minimal worker {exc}: {log_tail(log, 4)}") from None
    return server


def _gunicorn_has_control(python: str) -> bool:
    try:
        done = subprocess.run([python, "-m", "gunicorn", "--help"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--control-socket" in done.stdout


def _wait_http_ok(url: str, proc: subprocess.Popen, deadline: float) -> None:
    import urllib.request

    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Unavailable(f"exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - an http:// URL the bench built
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise Unavailable(f"{url} did not answer 200 in time")
