"""Gateway replicas on one PostgreSQL database: separate gunicorn masters on their own ports, as a
Kubernetes Deployment runs them, plus the load loop and audit bookkeeping the replica tests and
bench/replicas.py share.

What replicas share is what the k8s Secret gives every pod (README "Deploying"): DATABASE_URL,
JWT_SECRET (admin-API and portal sessions), TOKEN_HASH_KEY (client token hashes) and one vault
(here the local vault file with VAULT_ENCRYPTION_KEY, standing in for aws/gcp/azure). Nothing else:
each replica has its own data directory, metrics directory and port.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import secrets
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests
from sqlalchemy import create_engine, text

from tests.support.http_gateway import WEATHER, mcp_headers, stateless_meta
from tests.support.server import GatewayServer, listening_socket
from tests.support.stdio import TEST_TOKEN_HASH_KEY
from tests.support.upstream import Upstream, echo

ADMIN_PASSWORD = "admin-password-for-tests"  # gateway_env's: every replica bootstraps the same first admin
CALL_TOOL = "weather_get_station"  # GET /stations/{id} on the upstream, echoed back


# -- a database of its own ------------------------------------------------------------------------


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, ""))


@contextmanager
def fresh_database(server_url: str, prefix: str = "janus_replicas") -> Iterator[str]:
    """A new database on the PostgreSQL server of `server_url` (postgresql://user@host:port/any_db),
    dropped afterwards (FORCE: a replica a failed test left running must not keep it alive).

    Yields its postgresql:// URL. A database, not a schema: LISTEN/NOTIFY channels (the SSE bus) and
    advisory locks (the start-up lock) are per database, so replicas of another test process must not
    share it.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"{prefix}_{worker}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(sqlalchemy_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield _with_database(server_url, name)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg2://" + url.split("://", 1)[1]


# -- the replicas ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SharedSecrets:
    """What every replica's Secret holds besides DATABASE_URL; drawn per replica set."""

    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    token_hash_key: str = TEST_TOKEN_HASH_KEY  # the test process seeds token hashes with it too
    vault_key: str = field(default_factory=lambda: base64.b64encode(os.urandom(32)).decode())

    def env(self, vault_path: Path) -> dict[str, str]:
        return {
            "JWT_SECRET": self.jwt_secret,
            "TOKEN_HASH_KEY": self.token_hash_key,
            "VAULT_LOCAL_PATH": str(vault_path),
            "VAULT_ENCRYPTION_KEY": self.vault_key,
        }


@dataclass
class Replica:
    name: str
    data_dir: Path  # this replica's own files (its pod's emptyDir); the database is elsewhere
    env: dict[str, str]
    server: GatewayServer | None = None
    port: int = 0  # kept across a restart, as a Service keeps sending to the same pod address

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.server is not None and self.server.proc is not None and self.server.proc.poll() is None

    def start(self, timeout: float = 60.0) -> Replica:
        listener = listening_socket("127.0.0.1", self.port)
        self.port = listener.getsockname()[1]
        self.server = GatewayServer(str(self.data_dir / "unused.db"), listener=listener, **self.env)
        self.server.start(timeout=timeout)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def kill_hard(self) -> list[int]:
        """SIGKILL the whole replica (gunicorn master and its workers), as the OOM killer or a node
        loss would: no worker_exit hook, no audit flush, no session cleanup. Returns the pids killed.

        The master is stopped first so it cannot fork a replacement for a worker killed before it, and
        it is killed before it could notice its workers' deaths."""
        assert self.server is not None and self.server.proc is not None
        master = self.server.proc.pid
        os.kill(master, signal.SIGSTOP)
        workers = children(master)
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        os.kill(master, signal.SIGKILL)
        self.server.proc.wait(10)
        for pid in workers:  # orphans are reaped by init; wait until they are gone from /proc
            deadline = time.monotonic() + 10
            while Path(f"/proc/{pid}").exists() and _state(pid) not in ("Z", "X") and time.monotonic() < deadline:
                time.sleep(0.01)
        self.server.stop()  # nothing left to stop: closes our end of its log pipe
        return [master, *workers]

    @property
    def log(self) -> str:
        return self.server.log if self.server is not None else ""


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:  # the field after the state is the parent's pid
                found.append(int(entry))
    return found


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"


@dataclass
class Catalog:
    """What the test process seeded: the upstream, the weather connection and its tools' ids."""

    upstream: Upstream
    weather_connection: str
    endpoints: dict[str, str]  # tool name -> endpoint id


class ReplicaSet:
    """`count` replicas on `database_url`, with the catalog seeded once from the test process."""

    def __init__(self, tmp_dir: Path, database_url: str, count: int = 3, **env: str) -> None:
        self.tmp_dir = Path(tmp_dir)
        self.database_url = database_url
        self.secrets = SharedSecrets()
        shared = self.tmp_dir / "shared-vault"  # stands in for the cloud vault every replica reaches
        shared.mkdir(parents=True, exist_ok=True)
        base_env = {
            "DATABASE_URL": database_url,
            "WEB_CONCURRENCY": "2",
            "SSE_KEEPALIVE_SECONDS": "0.5",
            **self.secrets.env(shared / "secrets.json"),
            **env,
        }
        self.replicas: list[Replica] = []
        for index in range(count):
            name = "ABCDEFGH"[index]
            data_dir = self.tmp_dir / f"replica-{name.lower()}"
            data_dir.mkdir(parents=True, exist_ok=True)
            # The audit spool (branch spool) lives in the replica's own data directory, so a replica
            # restarted on it replays what a SIGKILL left there; an older Janus ignores the setting.
            own = {"AUDIT_SPOOL_DIR": str(data_dir / "audit-spool")}
            self.replicas.append(Replica(name, data_dir, {**base_env, **own}))
        self.catalog: Catalog | None = None
        self._app = None

    def __getitem__(self, index: int) -> Replica:
        return self.replicas[index]

    @property
    def app(self):
        """A Flask app of the test process on the same database and secrets (seeding, reading rows)."""
        if self._app is None:
            from tests.conftest import make_app

            env = self.replicas[0].env
            self._app = make_app(
                {"SQLALCHEMY_DATABASE_URI": sqlalchemy_url(self.database_url)},
                JWT_SECRET=env["JWT_SECRET"],
                VAULT_LOCAL_PATH=env["VAULT_LOCAL_PATH"],
                VAULT_ENCRYPTION_KEY=env["VAULT_ENCRYPTION_KEY"],
            )
        return self._app

    def seed(self) -> Catalog:
        """Schema, one upstream and the weather tools, before any replica starts (as the migration Job)."""
        from janus.services.bootstrap import ensure_schema
        from tests.support.catalog import ID_SCHEMA, add_connection, add_endpoint, add_token

        with self.app.app_context():
            ensure_schema()
        upstream = Upstream().start()
        upstream.route("/stations/", echo)
        upstream.route("/forecast", echo)
        weather = add_connection(self.app, "Weather", upstream.url, "weather_", timeout_seconds=10)
        endpoints = {
            CALL_TOOL: add_endpoint(self.app, weather, "get_station", "/stations/{{id}}", schema=ID_SCHEMA),
            "weather_get_forecast": add_endpoint(self.app, weather, "get_forecast", "/forecast"),
        }
        add_token(self.app, "Weather Team Token", WEATHER, "weather_*")
        self.catalog = Catalog(upstream, weather, endpoints)
        return self.catalog

    def start(self, timeout: float = 90.0) -> ReplicaSet:
        """Start every replica at once (they queue on the start-up lock, as pods rolling out together)."""
        if self.catalog is None:
            self.seed()
        errors: list[BaseException] = []

        def start(replica: Replica) -> None:
            try:
                replica.start(timeout=timeout)
            except BaseException as exc:  # noqa: BLE001 - reported below, after every start ended
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(r,), daemon=True) for r in self.replicas]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout + 10)
        if errors:
            self.stop()
            raise errors[0]
        return self

    def stop(self) -> None:
        for replica in self.replicas:
            replica.stop()
        if self.catalog is not None:
            self.catalog.upstream.stop()
        if self._app is not None:
            from janus.extensions import db

            with self._app.app_context():
                db.session.remove()
                db.engine.dispose()

    def __enter__(self) -> ReplicaSet:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- reading the shared database ------------------------------------------------------------

    def audit_counts(self, tool: str = CALL_TOOL) -> dict[str, int]:
        """arguments_digest -> number of tool-call audit rows with it, for one tool."""
        engine = create_engine(sqlalchemy_url(self.database_url))
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT arguments_digest, count(*) FROM tool_call_logs WHERE tool_name = :tool "
                        "GROUP BY arguments_digest"
                    ),
                    {"tool": tool},
                ).all()
        finally:
            engine.dispose()
        return {row[0]: row[1] for row in rows}

    def admin_token(self, replica: Replica) -> str:
        """An admin-API session minted by `replica` (JWT_SECRET is shared: valid on every replica)."""
        response = requests.post(
            replica.url + "/api/v1/login", json={"username": "admin", "password": ADMIN_PASSWORD}, timeout=15
        )
        assert response.status_code == 200, response.text
        return response.json()["token"]


# -- one call, and a bounded load loop ------------------------------------------------------------


def stateless_call(
    http: requests.Session, url: str, arguments: dict, *, tool: str = CALL_TOOL, request_id: int = 1, timeout=15.0
) -> requests.Response:
    """A 2026-07-28 tools/call: no session, so any replica (any worker) may answer it."""
    body = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments, "_meta": stateless_meta()},
    }
    headers = mcp_headers(
        WEATHER, **{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": tool}
    )
    return http.post(url + "/mcp", data=json.dumps(body), headers=headers, timeout=timeout)


@dataclass
class Outcome:
    """One call of a load loop: which replica, when, and how it ended."""

    n: int
    replica: str
    started: float  # time.monotonic()
    ended: float
    # "result" | "tool_error" | "jsonrpc_error" | "http_<status>" | "connection" | "timeout" | "unexpected"
    kind: str
    detail: str = ""
    label: str = "load"

    @property
    def arguments(self) -> dict:
        return call_arguments(self.n, self.label)


def call_arguments(n: int, label: str = "load") -> dict:
    """Each call's own argument value: how its audit row is found (by arguments_digest), never a secret."""
    return {"id": f"{label}-{n}"}


def classify(response: requests.Response, arguments: dict) -> tuple[str, str]:
    if response.status_code != 200:
        return f"http_{response.status_code}", response.text[:200]
    body = response.json()
    if "error" in body:
        return "jsonrpc_error", json.dumps(body["error"])[:200]
    result = body["result"]
    if result.get("isError"):
        return "tool_error", json.dumps(result)[:200]
    path = result["structuredContent"]["path"]
    assert path == f"/stations/{arguments['id']}", (arguments, path)  # the answer is this call's, not another's
    return "result", ""


class LoadLoop:
    """`threads` clients calling round-robin over `replicas` until `max_calls` or `seconds` are spent.

    Every client keeps one keep-alive connection per replica, like a client behind a balancer that
    holds its connections. Calls are numbered across the loop and carry `label`, so each call of every
    loop on one database has its own argument and so its own audit row.
    """

    def __init__(
        self,
        replicas: list[Replica],
        *,
        threads: int = 4,
        max_calls: int = 2000,
        seconds: float = 30.0,
        pause: float = 0.0,
        timeout: float = 15.0,
        label: str = "load",
    ) -> None:
        self.replicas = list(replicas)
        self.label = label
        self.threads = threads
        self.max_calls = max_calls
        self.seconds = seconds
        self.pause = pause
        self.timeout = timeout
        self.outcomes: list[Outcome] = []
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self.deadline = 0.0

    def start(self) -> LoadLoop:
        self.deadline = time.monotonic() + self.seconds
        for index in range(self.threads):
            worker = threading.Thread(target=self._run, args=(index,), daemon=True, name=f"load-{index}")
            worker.start()
            self._workers.append(worker)
        return self

    def stop(self) -> list[Outcome]:
        self._stop.set()
        for worker in self._workers:
            worker.join(self.timeout + 10)
        with self._lock:
            return sorted(self.outcomes, key=lambda o: o.n)

    def __enter__(self) -> LoadLoop:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def answered(self, replica: str | None = None, after: float = 0.0) -> list[Outcome]:
        with self._lock:
            return [
                o
                for o in self.outcomes
                if o.kind == "result" and (replica is None or o.replica == replica) and o.ended >= after
            ]

    def _run(self, index: int) -> None:
        sessions = {r.name: requests.Session() for r in self.replicas}
        turn = itertools.cycle(
            self.replicas[index % len(self.replicas) :] + self.replicas[: index % len(self.replicas)]
        )
        try:
            while not self._stop.is_set() and time.monotonic() < self.deadline:
                n = next(self._numbers)
                if n > self.max_calls:
                    return
                replica = next(turn)
                started = time.monotonic()
                arguments = call_arguments(n, self.label)
                try:
                    response = stateless_call(
                        sessions[replica.name], replica.url, arguments, request_id=n, timeout=self.timeout
                    )
                    with response:
                        kind, detail = classify(response, arguments)
                except requests.exceptions.Timeout as exc:
                    kind, detail = "timeout", type(exc).__name__
                except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                    # Refused, reset, or cut in the middle of the response (a replica killed mid-answer).
                    kind, detail = "connection", type(exc).__name__
                    sessions[replica.name].close()  # a fresh connection next time (a restarted replica)
                except Exception as exc:  # noqa: BLE001 - recorded: the test decides, the loop goes on
                    kind, detail = "unexpected", repr(exc)[:200]
                with self._lock:
                    self.outcomes.append(Outcome(n, replica.name, started, time.monotonic(), kind, detail, self.label))
                if self.pause:
                    self._stop.wait(self.pause)
        finally:
            for http in sessions.values():
                http.close()


def database_bound_requests(replica: Replica, admin: str) -> list[tuple[str, int, str | None, str]]:
    """Two requests that cannot be answered from a cache: a new handshake session (a row written) and
    an admin-API listing (rows read). (what, status, Retry-After, body) of each."""
    answers = []
    try:
        opened = requests.post(
            replica.url + "/mcp",
            headers=mcp_headers(WEATHER),
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"},
                },
            },
            timeout=30,
        )
        answers.append(("initialize", opened.status_code, opened.headers.get("Retry-After"), opened.text[:300]))
        listed = requests.get(
            replica.url + "/api/v1/endpoints", headers={"Authorization": f"Bearer {admin}"}, timeout=30
        )
        answers.append(
            ("GET /api/v1/endpoints", listed.status_code, listed.headers.get("Retry-After"), listed.text[:300])
        )
    except requests.exceptions.RequestException as exc:
        answers.append(("request", 0, None, repr(exc)))
    return answers


def served(answers: list[tuple[str, int, str | None, str]]) -> bool:
    """Both served: a 200 whose body is a result (a JSON-RPC error comes with 200 too)."""
    return len(answers) == 2 and all(status == 200 and '"error"' not in body for _, status, _, body in answers)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]
