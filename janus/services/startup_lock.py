"""One lock for start-up work (migrations, the first admin, the demo seed, the token key) across the
processes and replicas sharing the database.

Its own module: bootstrap takes it around the start-up steps, and token_key (which bootstrap
uses) takes it to create the key on a first start.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from sqlalchemy import text

from janus.extensions import db

_PG_STARTUP_LOCK = 0x4A414E5553  # "JANUS"


@contextlib.contextmanager
def startup_lock():
    """Serialise start-up work across processes and replicas sharing the database.

    SQLite: a lock file beside the database. PostgreSQL: a session advisory lock.
    """
    engine = db.engine
    if engine.dialect.name == "sqlite":
        from filelock import FileLock

        database = engine.url.database or ""
        if database and database != ":memory:":
            with FileLock(str(Path(database).with_suffix(Path(database).suffix + ".migrate.lock"))):
                yield
            return
        yield
    elif engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_STARTUP_LOCK})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_STARTUP_LOCK})
                conn.commit()
    else:
        yield
