"""A private PostgreSQL cluster that a test may stop, kill and restart, unlike the shared one on :5432.

initdb and pg_ctl come from /usr/local/bin (PG_BIN overrides). PostgreSQL refuses to run as root, so
when the tests run as root the cluster's files belong to the `postgres` user and its commands run as
that user (`runuser -u postgres --`). It listens on 127.0.0.1 at a port it finds free (a start that
loses the port to another process retries on another) and on a Unix socket in its own directory;
`url` names the socket, so a restart never depends on the TCP port still being free.

    with PrivatePostgres() as pg:
        url = pg.create_database("janus")   # a postgresql:// URL for DATABASE_URL
        pg.stop()                            # fast shutdown: clients see the database go away
        pg.start()                           # same data, same port and socket
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/local/bin"))
PG_USER = "postgres"
START_TIMEOUT = 60
_PORT_ATTEMPTS = 5


def available() -> str | None:
    """None when a private cluster can run here, else why not (for pytest.skip)."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / tool).exists():
            return f"{PG_BIN / tool} not found"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            return f"running as root and there is no {PG_USER!r} user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is not installed"
    return None


def _free_port() -> int:
    # Only a first guess: the start fails if another process takes the port meanwhile, and is retried.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivatePostgres:
    def __init__(self, *, max_connections: int = 100) -> None:
        self._as_postgres: list[str] = ["runuser", "-u", PG_USER, "--"] if os.geteuid() == 0 else []
        self.root = Path(tempfile.mkdtemp(prefix="janus-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log = self.root / "postgres.log"
        self.port = 0
        self.max_connections = max_connections
        self.running = False
        try:
            self.socket_dir.mkdir()
            if self._as_postgres:
                entry = pwd.getpwnam(PG_USER)
                for path in (self.root, self.socket_dir):
                    os.chown(path, entry.pw_uid, entry.pw_gid)
            self._run("initdb", "-D", str(self.data), "-U", PG_USER, "-A", "trust", "--no-sync", "-E", "UTF8")
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self._as_postgres, str(PG_BIN / tool), *args],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT + 30,
            check=check,
        )

    def _options(self) -> str:
        return (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
            f" -c max_connections={self.max_connections} -c shared_buffers=16MB"
        )

    def start(self) -> None:
        """Start the cluster and wait until it accepts connections (the first start picks the port)."""
        attempts = 1 if self.port else _PORT_ATTEMPTS
        for _ in range(attempts):
            if not self.port or attempts > 1:
                self.port = _free_port()
            result = self._run(
                "pg_ctl",
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                self._options(),
                "-w",
                "-t",
                str(START_TIMEOUT),
                "start",
                check=False,
            )
            if result.returncode == 0:
                self.running = True
                return
        raise RuntimeError(f"PostgreSQL did not start: {result.stderr.strip()}\n{self.log_tail()}")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: disconnect clients and shut down cleanly; `immediate`: as a crash would."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", str(START_TIMEOUT), "stop")
        self.running = False

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def url(self, database: str = "postgres") -> str:
        """A URL for psycopg2 (and Janus's DATABASE_URL) through the cluster's Unix socket."""
        return f"postgresql://{PG_USER}@/{database}?host={self.socket_dir}&port={self.port}"

    def tcp_url(self, database: str = "postgres") -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> list[tuple]:
        import psycopg2

        conn = psycopg2.connect(host=str(self.socket_dir), port=self.port, user=PG_USER, dbname=database)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self) -> None:
        try:
            if self.running:
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
