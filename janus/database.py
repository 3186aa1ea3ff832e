"""Engine tuning that every process needs (SQLite WAL, busy timeout, foreign keys)."""
from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine

SQLITE_BUSY_TIMEOUT_MS = 10_000
POSTGRES_STATEMENT_TIMEOUT_MS = 15_000
_installed = False


def _on_connect(dbapi_connection, connection_record) -> None:
    module = type(dbapi_connection).__module__
    if module.startswith("psycopg2"):
        # A hung database must fail a query in seconds, not hold a worker forever.
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET statement_timeout = {POSTGRES_STATEMENT_TIMEOUT_MS}")
        cursor.close()
        dbapi_connection.commit()
        return
    if not module.startswith(("sqlite3", "pysqlite")):
        return
    cursor = dbapi_connection.cursor()
    # WAL lets gunicorn workers and stdio processes read while one writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def install_engine_hooks() -> None:
    global _installed
    if not _installed:
        event.listen(Engine, "connect", _on_connect)
        _installed = True
