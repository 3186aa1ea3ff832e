"""Engine tuning that every process needs (SQLite WAL, busy timeout, foreign keys, private files)."""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import threading
import time
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import event
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 10_000
# Under gevent, SQLite's own busy wait sleeps in C and stops every greenlet of the worker with it: it
# waits this little there, and the rest of SQLITE_BUSY_TIMEOUT_MS in cooperative sleeps (CooperativeSqlite).
SQLITE_GEVENT_BUSY_TIMEOUT_MS = 20
SQLITE_RETRY_SLEEP_SECONDS = 0.02
POSTGRES_STATEMENT_TIMEOUT_MS = 15_000
PRIVATE_FILE_MODE = 0o600
# Files SQLite keeps beside the database; they hold the same rows (token hashes, audit, sessions).
SQLITE_SIDE_SUFFIXES = ("-wal", "-shm", "-journal")


def _on_connect(dbapi_connection, connection_record) -> None:
    module = type(dbapi_connection).__module__
    if module.startswith("psycopg2"):
        # A hung database must fail a query in seconds, not hold a worker forever.
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET statement_timeout = {POSTGRES_STATEMENT_TIMEOUT_MS}")
        cursor.close()
        dbapi_connection.commit()
        return
    if not isinstance(dbapi_connection, sqlite3.Connection) and not module.startswith(("sqlite3", "pysqlite")):
        return
    cursor = dbapi_connection.cursor()
    # WAL lets gunicorn workers and stdio processes read while one writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    busy_ms = (
        SQLITE_GEVENT_BUSY_TIMEOUT_MS if isinstance(dbapi_connection, CooperativeSqlite) else SQLITE_BUSY_TIMEOUT_MS
    )
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def gevent_active() -> bool:
    """True in a gunicorn gevent worker (monkey-patched), False in stdio, CLI and test processes."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("socket")


def _wait_while_locked(run, *args):
    """`run(*args)`, retried while SQLite reports the file locked, until SQLITE_BUSY_TIMEOUT_MS have passed.

    A statement refused as busy did nothing, so running it again is safe. time.sleep is gevent's here:
    the other greenlets (tool calls served from the caches) run while this one waits for the lock.
    """
    deadline = 0.0
    while True:
        try:
            return run(*args)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            now = time.monotonic()
            if not deadline:
                deadline = now + SQLITE_BUSY_TIMEOUT_MS / 1000
            if now >= deadline:
                raise
            time.sleep(SQLITE_RETRY_SLEEP_SECONDS)


SQLITE_THREADS = 4  # SQLite statements of one worker running at once, off its gevent loop
_pool: Any = None
_pool_pid = 0
_pool_lock = threading.Lock()


def _off_hub(run, *args):
    """`run(*args)` in a real thread: sqlite3 releases the GIL while SQLite works, so the worker's other
    greenlets run meanwhile (a 3 s telemetry query no longer stops every tool call of the worker). A
    pool of Janus's own: the hub's threadpool also resolves DNS for upstream calls."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():  # a forked process has the object but not the threads
        with _pool_lock:
            if _pool is None or _pool_pid != os.getpid():
                from gevent.threadpool import ThreadPool

                _pool, _pool_pid = ThreadPool(SQLITE_THREADS), os.getpid()
    ok, value = _pool.apply(_outcome, (run, args))
    if ok:
        return value
    raise value


def _outcome(run, args):
    """(True, result) or (False, the exception), caught in the pool's thread: an exception escaping a gevent
    pool task is printed to the log as a traceback by the hub before the caller sees it, and a locked
    database (retried above, an ordinary event under load) filled the gateway's log with them."""
    try:
        return True, run(*args)
    except Exception as exc:  # noqa: BLE001  # every one is re-raised in the caller, unchanged
        return False, exc


class _CooperativeCursor(sqlite3.Cursor):
    def execute(self, *args):  # positional, as pysqlite calls it
        return _wait_while_locked(_off_hub, super().execute, *args)

    def executemany(self, *args):
        return _wait_while_locked(_off_hub, super().executemany, *args)

    # Fetching steps the statement too: a large result is SQLite's work as much as the execute.
    def fetchone(self):
        return _off_hub(super().fetchone)

    def fetchmany(self, *args):
        return _off_hub(super().fetchmany, *args)

    def fetchall(self):
        return _off_hub(super().fetchall)


class CooperativeSqlite(sqlite3.Connection):
    """A pysqlite connection for gevent workers: its statements run in a small pool of real threads, and
    a locked database is waited for in cooperative sleeps, so neither blocks the worker's gevent loop."""

    def cursor(self, factory=_CooperativeCursor):
        return super().cursor(factory)

    def execute(self, *args):
        return self.cursor().execute(*args)

    def commit(self) -> None:
        _wait_while_locked(_off_hub, super().commit)


def _before_connect(dialect, connection_record, cargs, cparams) -> None:
    """Runs before the DBAPI opens the file: the only moment to decide the mode it is born with."""
    if dialect.name != "sqlite":
        return
    if gevent_active():
        cparams.setdefault("factory", CooperativeSqlite)
        cparams["check_same_thread"] = False  # used by one greenlet at a time, from the pool's threads
    if os.name != "posix":
        return
    path = sqlite_file_path(cargs[0] if cargs else cparams.get("database"), bool(cparams.get("uri")))
    if path:
        secure_sqlite_files(path)


def sqlite_file_path(database: object, uri: bool) -> str | None:
    """The file behind a pysqlite `database` argument, or None for in-memory databases."""
    if not isinstance(database, str) or database in ("", ":memory:"):
        return None
    if uri and database.startswith("file:"):
        parts = urlsplit(database)
        if "mode=memory" in parts.query or not parts.path or parts.path == ":memory:":
            return None
        return unquote(parts.path)
    return database


def secure_sqlite_files(path: str) -> None:
    """Create the database 0600 and tighten any existing file of it to 0600.

    SQLite itself would create the file 0644 (minus the umask). It creates the
    WAL, SHM and journal files with the database file's own mode, so a private
    database keeps them private; ones left looser (by an older Janus, or a copy)
    are tightened here, and the log says so.
    """
    try:
        # O_EXCL: an existing database is never truncated; an empty file is a valid empty database.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        pass
    except OSError:
        return  # e.g. a missing or read-only directory: SQLite reports that with its own message
    for name in (path, *(path + suffix for suffix in SQLITE_SIDE_SUFFIXES)):
        try:
            mode = os.stat(name).st_mode & 0o777
        except OSError:
            continue
        if mode & 0o077:
            try:
                os.chmod(name, PRIVATE_FILE_MODE)
            except OSError as exc:
                log.warning(
                    "database file %s is mode %04o (readable beyond its owner) and cannot be made 0600: %s",
                    name,
                    mode,
                    exc.strerror,
                )
            else:
                log.warning("database file %s was mode %04o; changed it to 0600 (owner only)", name, mode)


def install_engine_hooks(engine: Engine) -> None:
    """On Janus's own engine only: another library's engine in the same process is none of ours.

    Installed before the engine's first connection (create_app, right after init_app), which is the
    only moment `_before_connect` can decide the mode a new SQLite file is born with. Idempotent.
    """
    if not event.contains(engine, "connect", _on_connect):
        event.listen(engine, "do_connect", _before_connect)
        event.listen(engine, "connect", _on_connect)
