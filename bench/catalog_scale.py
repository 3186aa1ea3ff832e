"""The catalogue at scale: a real gateway (gunicorn, 2 gevent workers, SQLite) with 10,000 tools.

Seeds 100 connections × 100 endpoints straight through the models (setup speed, not a measurement),
starts `mcp-gateway` on 127.0.0.1 with a keep-alive upstream in its own process, and measures:

  seed            time to insert the 10,000 tools
  tools/list      first page, and a full walk by cursor
  tools/call      p50 / p99 at rest, CPU per call (the workers' CPU), against a 10-tool gateway in the same run
  idle create     endpoint creation through the API with nothing else running (20 in a row)
  one change      p99 of concurrent calls in the 3 s after one endpoint is created through the API
  bulk            endpoint creation through the API (p50, per second) and the concurrent calls' p99 meanwhile
  import          an OpenAPI import (GitHub's description, 1,000+ tools) through the API, and the calls' p99
                  during it and in the 3 s after
  propagation     from a create's answer until the new tool is callable on both workers
  RSS             the workers' resident memory before and after the changes
  portal          /tools and /connections p50 / p95 (client-side on loopback ≈ server time)

Every loop is bounded in count and in time (--max-seconds per phase).

    PYTHONPATH=. .venv/bin/python bench/catalog_scale.py [--tools 10000] [--bulk 50]
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.http_gateway import initialize, mcp_headers  # noqa: E402
from tests.support.server import GatewayServer  # noqa: E402
from tests.support.stdio import TEST_TOKEN_HASH_KEY  # noqa: E402

GITHUB_SPEC = ROOT / "tools/openapi-fixtures/node_modules/@octokit/openapi/generated/api.github.com.json"
PASSWORD = "bench catalogue password"
TOKEN = "bench_catalog_" + secrets.token_hex(12)
SCHEMA = {"type": "object", "properties": {"id": {"type": "string"}, "q": {"type": "string"}}, "required": ["id"]}
CLIENTS = 4  # threads calling tools concurrently


def seed(path: Path, upstream: str, tools: int, database_url: str = "") -> float:
    from janus import create_app
    from janus.extensions import db
    from janus.gateway.catalog import hash_token
    from janus.models import ClientToken, Connection, Endpoint
    from janus.services import users
    from janus.services.bootstrap import ensure_schema
    from janus.services.token_key import server_key

    app = create_app(
        {
            "DATABASE_PATH": str(path),
            "VAULT_LOCAL_PATH": str(path.with_name("secrets.json")),
            "LOG_LEVEL": "WARNING",
            "TOKEN_HASH_KEY": TEST_TOKEN_HASH_KEY,
            "DATABASE_URL": database_url,
        }
    )
    started = time.perf_counter()
    with app.app_context():
        ensure_schema()
        key = server_key(app)  # before any write: it records itself in the database on its own connection
        users.create_user("bench", {"username": "bench", "password": PASSWORD, "role": "admin"})
        per = min(100, tools)
        for c in range((tools + per - 1) // per):
            conn = Connection(name=f"Service {c:03d}", base_url=upstream, prefix=f"svc{c:03d}_", timeout_seconds=10)
            db.session.add(conn)
            db.session.flush()
            db.session.add_all(
                Endpoint(
                    connection_id=conn.id,
                    tool_name=f"get_item_{t}",
                    method="GET",
                    path_template="/items/{{id}}",
                    description=f"Fetch item kind {t} of service {c}",
                    input_schema=SCHEMA,
                )
                for t in range(min(per, tools - c * per))
            )
        db.session.add(ClientToken(name="bench", token_hash=hash_token(TOKEN, key), scopes="*"))
        db.session.commit()
        first = db.session.scalar(db.select(Connection.id).order_by(Connection.name))
    app.config["BENCH_CONNECTION"] = first
    elapsed = time.perf_counter() - started
    with app.app_context():
        db.engine.dispose()
    return elapsed


class Gateway:
    def __init__(self, workdir: Path, upstream: str, tools: int, database_url: str = "") -> None:
        workdir.mkdir()
        self.seed_seconds = seed(workdir / "janus.db", upstream, tools, database_url)
        extra = {"DATABASE_URL": database_url} if database_url else {}
        self.server = GatewayServer(str(workdir / "janus.db"), WEB_CONCURRENCY="2", LOG_LEVEL="WARNING", **extra)
        self.server.start(90)
        self.session_id = initialize(self.server.url, TOKEN)
        self.api = requests.Session()
        login = self.api.post(self.server.url + "/api/v1/login", json={"username": "bench", "password": PASSWORD})
        self.api.headers["Authorization"] = "Bearer " + login.json()["token"]
        self.connection = self.api.get(self.server.url + "/api/v1/connections").json()
        if isinstance(self.connection, dict):
            self.connection = self.connection.get("items") or self.connection.get("connections")
        self.connection_id = self.connection[0]["id"]

    def rpc(self, http: requests.Session, method: str, params: dict) -> dict:
        response = http.post(
            self.server.url + "/mcp",
            headers=mcp_headers(TOKEN, **{"Mcp-Session-Id": self.session_id, "MCP-Protocol-Version": "2025-11-25"}),
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
            timeout=30,
        )
        body = response.json()
        response.close()
        return body

    def call(self, http: requests.Session, name: str = "svc000_get_item_1") -> bool:
        body = self.rpc(http, "tools/call", {"name": name, "arguments": {"id": "7"}})
        return "result" in body and body["result"].get("isError") is False

    def workers(self) -> list[psutil.Process]:
        return [
            p
            for p in psutil.Process(self.server.proc.pid).children(recursive=True)
            if "gunicorn" in " ".join(p.cmdline())
        ]

    def worker_cpu(self) -> float:
        return sum(sum(p.cpu_times()[:2]) for p in self.workers())

    def rss_mb(self) -> list[float]:
        return [round(p.memory_info().rss / 2**20, 1) for p in self.workers()]

    def create_endpoint(self, name: str) -> float:
        started = time.perf_counter()
        response = self.api.post(
            self.server.url + "/api/v1/endpoints",
            json={
                "connection_id": self.connection_id,
                "tool_name": name,
                "method": "GET",
                "path_template": "/items/{{id}}",
                "input_schema": SCHEMA,
            },
        )
        elapsed = time.perf_counter() - started
        assert response.status_code == 201, response.text
        return elapsed

    def stop(self) -> None:
        self.api.close()
        self.server.stop()


class Load:
    """CLIENTS threads calling one tool until stopped (bounded by a deadline); latencies with their start time."""

    def __init__(self, gw: Gateway, max_seconds: float) -> None:
        self.gw, self.samples, self.failures = gw, [], 0
        self.stop_at = time.monotonic() + max_seconds
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]
        for t in self.threads:
            t.start()

    def _run(self) -> None:
        with requests.Session() as http:
            while not self.stopped.is_set() and time.monotonic() < self.stop_at:
                started = time.perf_counter()
                ok = self.gw.call(http)
                self.samples.append((started, time.perf_counter() - started))
                self.failures += not ok

    def window(self, start: float, end: float) -> list[float]:
        return sorted(d for s, d in list(self.samples) if start <= s <= end)

    def finish(self) -> None:
        self.stopped.set()
        for t in self.threads:
            t.join(30)


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * q))] * 1000 if values else float("nan")


def call_cost(gw: Gateway, calls: int) -> tuple[float, float]:
    """p50 (ms) and the workers' CPU per call (ms) over `calls` sequential calls."""
    with requests.Session() as http:
        for _ in range(20):
            gw.call(http)
        cpu = gw.worker_cpu()
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            assert gw.call(http)
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1000, (gw.worker_cpu() - cpu) / calls * 1000


def list_walk(gw: Gateway) -> tuple[float, float, int]:
    with requests.Session() as http:
        started = time.perf_counter()
        page = gw.rpc(http, "tools/list", {})["result"]
        first = time.perf_counter() - started
        count = len(page["tools"])
        while page.get("nextCursor") and time.perf_counter() - started < 120:
            page = gw.rpc(http, "tools/list", {"cursor": page["nextCursor"]})["result"]
            count += len(page["tools"])
        return first * 1000, (time.perf_counter() - started) * 1000, count


def propagation(gw: Gateway, name: str, max_seconds: float) -> float:
    """Seconds from the create's answer until 20 calls in a row (fresh connections: either worker) find the tool."""
    gw.create_endpoint(name)
    answered = time.monotonic()
    streak_start, streak = None, 0
    while time.monotonic() - answered < max_seconds:
        with requests.Session() as http:  # a new connection: gunicorn hands it to either worker
            ok = gw.call(http, f"svc000_{name}")
        if ok:
            streak_start = streak_start or time.monotonic()
            streak += 1
            if streak >= 20:
                return streak_start - answered
        else:
            streak_start, streak = None, 0
    return float("nan")


def imported(gw: Gateway, spec: Path, upstream: str, max_seconds: float, round_: int = 0) -> None:
    """An OpenAPI import through the admin API (every operation, one transaction) while CLIENTS call:
    its time, and the calls' p99 at rest, during the import and in the 3 s after it (both workers apply
    the change)."""
    text = spec.read_text()
    # Encoded before and decoded after the measured windows: the client threads share this process's GIL,
    # and 13 MB of JSON written or read here would stall them and count against the gateway.
    body = json.dumps(
        {"spec": text, "prefix": f"imp{round_ or ''}_", "name": f"Imported {round_}", "base_url": upstream}
    ).encode()
    load = Load(gw, max_seconds=max_seconds * 3)
    try:
        time.sleep(3)
        started = time.perf_counter()
        reply = gw.api.post(
            gw.server.url + "/api/v1/import/openapi",
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=max_seconds * 3,
        )
        ended = time.perf_counter()
        time.sleep(3)
    finally:
        load.finish()
    assert reply.status_code == 200, reply.text[:500]
    applied = len(reply.json()["applied"])
    rest, during, after = (
        load.window(started - 3, started),
        load.window(started, ended),
        load.window(ended, ended + 3),
    )
    print(
        f"OpenAPI import of {spec.name} ({len(text) / 1e6:.1f} MB, {applied} tools) through the API: "
        f"{ended - started:.2f} s; concurrent tools/call p99 at rest {pct(rest, 0.99):.1f} ms ({len(rest)}), "
        f"during {pct(during, 0.99):.1f} ms ({len(during)}), in the 3 s after {pct(after, 0.99):.1f} ms "
        f"({len(after)}), worst {max(during + after, default=0) * 1000:.0f} ms; failures {load.failures}"
    )


def portal_times(gw: Gateway, rounds: int) -> dict[str, tuple[float, float]]:
    out = {}
    with requests.Session() as web:
        page = web.get(gw.server.url + "/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        web.post(gw.server.url + "/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token})
        for path in ("/tools", "/connections"):
            times, size = [], 0
            for _ in range(rounds):
                started = time.perf_counter()
                reply = web.get(gw.server.url + path)
                times.append(time.perf_counter() - started)
                assert reply.status_code == 200, (path, reply.status_code)
                size = len(reply.content)
            out[path] = (statistics.median(times) * 1000, pct(times, 0.95), size)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tools", type=int, default=10_000, help="tools in the large catalogue (max 20000)")
    parser.add_argument("--bulk", type=int, default=50, help="endpoints created through the API in the bulk phase")
    parser.add_argument("--calls", type=int, default=300, help="sequential calls for p50 and CPU per call")
    parser.add_argument("--max-seconds", type=float, default=60, help="bound of each phase")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default="",
        help="a PostgreSQL server (postgresql://user@127.0.0.1:5432/postgres): the bench creates and drops its own databases there",
    )
    parser.add_argument(
        "--import-rounds",
        type=int,
        default=1,
        help="imports of the description, one after another (each a new connection): the machine is noisy",
    )
    parser.add_argument(
        "--import-spec",
        metavar="FILE",
        default=str(GITHUB_SPEC) if GITHUB_SPEC.is_file() else "",
        help="an OpenAPI description imported through the API while calls run (default: GitHub's, when "
        "scripts/install-openapi-fixtures installed it; '' to skip)",
    )
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # each result as it comes, also into a file
    tools, bulk = min(args.tools, 20_000), min(args.bulk, 500)

    tmp = Path(tempfile.mkdtemp(prefix="janus-catalog-bench-"))
    upstream = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "_upstream.py"), "1800"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    url = upstream.stdout.readline().strip()
    small = big = None
    databases = [_database(args.postgres, kind) for kind in ("small", "big")] if args.postgres else ["", ""]
    try:
        small = Gateway(tmp / "small", url, 10, databases[0])
        small_p50, small_cpu = call_cost(small, args.calls)
        small.stop()
        small = None

        big = Gateway(tmp / "big", url, tools, databases[1])
        kind = "PostgreSQL" if args.postgres else "SQLite"
        print(f"{tools} tools, 2 gevent workers, {kind}; seeded in {big.seed_seconds:.1f} s")
        first, walk, listed = list_walk(big)
        print(f"tools/list: first page {first:.1f} ms, full walk {walk:.0f} ms ({listed} tools)")
        big_p50, big_cpu = call_cost(big, args.calls)
        print(
            f"tools/call p50: {big_p50:.2f} ms ({small_p50:.2f} ms with 10 tools); "
            f"worker CPU per call {big_cpu:.2f} ms ({small_cpu:.2f} ms with 10 tools)"
        )
        rss_before = big.rss_mb()
        idle = [big.create_endpoint(f"bench_idle_{i}") for i in range(20)]
        print(
            f"endpoint create through the API with no other load: p50 {pct(idle, 0.5):.0f} ms, p95 {pct(idle, 0.95):.0f} ms"
        )

        load = Load(big, max_seconds=args.max_seconds * 3)
        time.sleep(3)
        rest_end = time.perf_counter()
        rest = load.window(rest_end - 3, rest_end)
        one = big.create_endpoint("bench_one")
        time.sleep(3)
        after_one = load.window(rest_end, rest_end + 3)
        bulk_start = time.perf_counter()
        creates = []
        for i in range(bulk):
            if time.perf_counter() - bulk_start > args.max_seconds:
                break
            creates.append(big.create_endpoint(f"bench_bulk_{i}"))
        bulk_end = time.perf_counter()
        during_bulk = load.window(bulk_start, bulk_end)
        load.finish()
        print(
            f"endpoint create through the API: one {one * 1000:.0f} ms; bulk p50 {pct(creates, 0.5):.0f} ms, "
            f"p95 {pct(creates, 0.95):.0f} ms, {len(creates) / (bulk_end - bulk_start):.1f} endpoints/s"
        )
        print(
            f"concurrent tools/call ({CLIENTS} clients) p99: at rest {pct(rest, 0.99):.1f} ms ({len(rest)} calls), "
            f"after one change {pct(after_one, 0.99):.1f} ms ({len(after_one)}), "
            f"during the bulk {pct(during_bulk, 0.99):.1f} ms ({len(during_bulk)}), "
            f"worst {max(after_one + during_bulk, default=0) * 1000:.0f} ms; failures {load.failures}"
        )
        if args.import_spec:
            for round_ in range(max(1, min(args.import_rounds, 5))):
                imported(big, Path(args.import_spec), url, args.max_seconds, round_)
        reach = [propagation(big, f"bench_reach_{i}", args.max_seconds) for i in range(3)]
        print("a change reaches every worker in: " + ", ".join(f"{r:.2f} s" for r in reach))
        print(f"worker RSS MB before {rss_before}, after {big.rss_mb()}")
        for path, (p50, p95, size) in portal_times(big, 10).items():
            print(f"portal {path}: p50 {p50:.0f} ms, p95 {p95:.0f} ms, {size / 1e6:.2f} MB")
    finally:
        for gw in (small, big):
            if gw is not None:
                gw.stop()
        upstream.stdin.close()
        upstream.wait(30)
        upstream.stdout.close()
        shutil.rmtree(tmp, ignore_errors=True)
        for database in databases:
            if database:
                _drop(args.postgres, database)


def _admin_connection(server_url: str):
    import psycopg2

    conn = psycopg2.connect(server_url)
    conn.autocommit = True  # CREATE / DROP DATABASE cannot run in a transaction
    return conn


def _database(server_url: str, kind: str) -> str:
    """A new, empty database on that server for one gateway; its URL."""
    name = f"janus_bench_{kind}_{secrets.token_hex(4)}"
    conn = _admin_connection(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return server_url.rsplit("/", 1)[0] + "/" + name


def _drop(server_url: str, database_url: str) -> None:
    conn = _admin_connection(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{database_url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        conn.close()


if __name__ == "__main__":
    main()
