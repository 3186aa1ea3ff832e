"""SQLite files hold token hashes, sessions and the audit trail: only their owner may read them."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat

import pytest
from sqlalchemy import text

from janus.extensions import db
from janus.services.bootstrap import ensure_schema
from tests.conftest import make_app

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def loose_umask():
    """The common default umask: without care SQLite would create 0644 files under it."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_new_database_and_its_wal_and_shm_files_are_created_owner_only(tmp_path, loose_umask):
    database = tmp_path / "janus.db"
    app = make_app({"DATABASE_PATH": str(database)}, VAULT_LOCAL_PATH=str(tmp_path / "secrets.json"))
    with app.app_context():
        ensure_schema()
        with db.engine.connect() as conn:  # an open connection keeps the WAL and SHM files in place
            conn.execute(text("INSERT INTO change_counters (name, value) VALUES ('probe', 1)"))
            conn.commit()
            files = {p.name: _mode(p) for p in tmp_path.glob("janus.db*") if not p.name.endswith(".lock")}
        db.engine.dispose()
    assert files == {"janus.db": 0o600, "janus.db-wal": 0o600, "janus.db-shm": 0o600}


def test_an_existing_database_with_looser_modes_is_tightened_at_start_and_logged(tmp_path, loose_umask, caplog):
    database = tmp_path / "janus.db"
    keep_open = sqlite3.connect(database)  # a WAL database written by someone else, files 0644
    keep_open.execute("PRAGMA journal_mode=WAL")
    keep_open.execute("CREATE TABLE t (a)")
    keep_open.execute("INSERT INTO t VALUES (1)")
    keep_open.commit()
    names = ["janus.db", "janus.db-wal", "janus.db-shm"]
    for name in names:
        os.chmod(tmp_path / name, 0o644)
    app = make_app({"DATABASE_PATH": str(database)}, VAULT_LOCAL_PATH=str(tmp_path / "secrets.json"))
    with caplog.at_level(logging.WARNING, logger="janus.database"), app.app_context():
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT a FROM t")).scalar() == 1
        db.engine.dispose()
    modes = {name: _mode(tmp_path / name) for name in names}  # still open elsewhere: all three files exist
    keep_open.close()
    assert modes == dict.fromkeys(names, 0o600)
    assert f"database file {database} was mode 0644; changed it to 0600" in caplog.text


def test_janus_tunes_its_own_engine_and_leaves_other_engines_in_the_process_alone(tmp_path, loose_umask):
    """The hooks are on Janus's engine and session, not on every Engine and Session class in the process."""
    import os

    from sqlalchemy import create_engine, event, text
    from sqlalchemy.orm import Session

    from janus.extensions import db
    from janus.models.state import _bump_on_flush
    from tests.conftest import make_app

    app = make_app({"DATABASE_PATH": str(tmp_path / "janus.db")})
    with app.app_context(), db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    other = create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        with other.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "delete"  # SQLite's own default
        assert os.stat(tmp_path / "other.db").st_mode & 0o777 != 0o600  # another library's file, its own mode
    finally:
        other.dispose()
    assert event.contains(db.session, "before_flush", _bump_on_flush)
    assert not event.contains(Session, "before_flush", _bump_on_flush)


_HUB_SCRIPT = """
from gevent import monkey

monkey.patch_all()
import sys

import gevent
from sqlalchemy import create_engine, text

from janus.database import CooperativeSqlite, install_engine_hooks

engine = create_engine("sqlite:///" + sys.argv[1])
install_engine_hooks(engine)
ticks = []
done = []


def ticker():
    while not done:
        ticks.append(1)
        gevent.sleep(0.005)


def slow_query():
    with engine.connect() as conn:
        assert isinstance(conn.connection.dbapi_connection, CooperativeSqlite)
        conn.execute(text("SELECT 1"))  # connected before the ticker counts
        gevent.sleep(0.02)  # a worker that has served a request: its SQLite thread is up and the loop turning
        ticks.clear()
        conn.execute(text(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) SELECT sum(x) FROM c"
        )).scalar()
        done.append(len(ticks))


gevent.joinall([gevent.spawn(slow_query), gevent.spawn(ticker)])
print(done[0])
engine.dispose()
"""


def test_a_slow_sqlite_query_under_gevent_leaves_the_workers_other_greenlets_running(tmp_path):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _HUB_SCRIPT, str(tmp_path / "hub.db")], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    # The query ran in a real thread: the loop went on ticking meanwhile (in the loop's own thread the
    # query would hold it, and the ticker could not run once until it ended).
    assert int(out.stdout.strip()) >= 5


_LOCKED_SCRIPT = """
from gevent import monkey

monkey.patch_all()
import sqlite3
import sys

import gevent
from sqlalchemy import create_engine, text

from janus.database import install_engine_hooks

engine = create_engine("sqlite:///" + sys.argv[1])
install_engine_hooks(engine)
with engine.begin() as conn:
    conn.execute(text("CREATE TABLE t (x INTEGER)"))
holder = sqlite3.connect(sys.argv[1], isolation_level=None)
holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock for a while


def write():
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))


writer = gevent.spawn(write)
gevent.sleep(0.3)  # the writer meets the lock, and retries in cooperative sleeps
holder.execute("COMMIT")
writer.get(timeout=30)
with engine.connect() as conn:
    print(conn.execute(text("SELECT count(*) FROM t")).scalar())
"""


def test_a_write_that_waits_for_a_lock_under_gevent_succeeds_without_a_traceback_in_the_log(tmp_path):
    """Each retry on a locked database raised out of a gevent pool task, and the hub printed it as a
    traceback: under load the gateway's log filled with "failed with OperationalError" (a test saw it)."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _LOCKED_SCRIPT, str(tmp_path / "locked.db")], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"
    assert "Traceback" not in out.stderr and "OperationalError" not in out.stderr, out.stderr
