"""Shared fixtures: apps on real SQLite files and on the PostgreSQL service, real upstreams."""

from __future__ import annotations

import atexit
import gc
import os
import secrets
import shutil
import sys
import tempfile
import uuid

import pytest
from sqlalchemy import create_engine, text

from tests.support.stdio import TEST_TOKEN_HASH_KEY
from tests.support.upstream import Upstream

PG_BASE_URL = os.environ.get("JANUS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# The pytest-xdist worker running this process ("gw0", "gw1", ...), or "main" without xdist.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")

# The database this test process works in: set by `pg_database` to one created for it. Each process (each
# xdist worker) gets its own because LISTEN/NOTIFY channels (the bus's `janus_bus`) and advisory locks (the
# start-up lock) are per database, not per schema: gateways of two workers in one database would hear each
# other's broadcasts and queue behind each other's start-up lock.
_database: str | None = None


def _pg_engine_url(schema: str | None = None) -> str:
    server, _, rest = PG_BASE_URL.split("://", 1)[1].rpartition("/")
    query = ("?" + rest.split("?", 1)[1]) if "?" in rest else ""
    database = _database or rest.split("?", 1)[0]
    url = f"postgresql+psycopg2://{server}/{database}{query}"
    if schema:
        url += ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"
    return url


@pytest.fixture(scope="session")
def pg_database():
    """A database of this test process's own on the PostgreSQL service, dropped afterwards.

    Locally an unreachable PostgreSQL skips these tests; in CI it fails the run.
    """
    global _database
    engine = create_engine(_pg_engine_url(), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        engine.dispose()
        if IN_CI:
            pytest.fail(f"PostgreSQL at {PG_BASE_URL} is unreachable in CI: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    name = f"janus_test_{WORKER}_{uuid.uuid4().hex[:10]}"
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    _database = name
    try:
        yield name
    finally:
        _database = None
        # Runtimes that tests built and never closed still have audit writers holding connections to
        # this database: closed first, they don't retry against a dropped database at exit (and print
        # "database does not exist" tracebacks after the summary).
        from janus.runtime import _ALL

        for runtime in list(_ALL):
            runtime.audit.close(1.0)  # what a second cannot commit stays spooled (a test's outage)
        # The same for the message buses tests opened on it (their listeners reconnect every 5 s).
        bus_module = sys.modules.get("janus.transports.bus.postgres")
        if bus_module is not None:
            for found in gc.get_objects():
                if isinstance(found, bus_module.PostgresBus):
                    found.close()
        with engine.connect() as conn:
            # FORCE: a gateway a failed test left running must not keep the database alive.
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(scope="session")
def pg_schema(pg_database):
    """A private schema in this process's database (`pg_database`), dropped afterwards."""
    engine = create_engine(_pg_engine_url())
    schema = f"janus_test_{uuid.uuid4().hex[:10]}"
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield schema
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


# Audit spools of apps whose database has no file (PostgreSQL): each app its own directory, so no test
# adopts the spool another test process left, and none lands in the working tree.
_SPOOLS = tempfile.mkdtemp(prefix="janus-test-spools-")
atexit.register(shutil.rmtree, _SPOOLS, True)


def make_app(database: dict, **overrides):
    from janus import create_app

    config = {
        "AUDIT_SPOOL_DIR": os.path.join(_SPOOLS, uuid.uuid4().hex),
        "JWT_SECRET": secrets.token_urlsafe(32),
        "ADMIN_PASSWORD": "admin-password-for-tests",
        "CATALOG_REFRESH_SECONDS": 0.05,
        "VAULT_LOCAL_PATH": "",
        "TOKEN_HASH_KEY": TEST_TOKEN_HASH_KEY,
        **database,
        **overrides,
    }
    return create_app(config)


def _reset_tables(app) -> None:
    from janus.extensions import db

    with app.app_context(), db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())
        conn.execute(text("INSERT INTO change_counters (name, value) VALUES ('catalog', 0)"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_backend(request, tmp_path):
    """Database settings for one backend; tests using it run on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        return {"DATABASE_PATH": str(tmp_path / "janus.db")}
    schema = request.getfixturevalue("pg_schema")
    return {"SQLALCHEMY_DATABASE_URI": _pg_engine_url(schema)}


@pytest.fixture
def app(db_backend, tmp_path):
    from janus.services.bootstrap import ensure_schema

    app = make_app(db_backend, VAULT_LOCAL_PATH=str(tmp_path / "secrets.json"))
    with app.app_context():
        ensure_schema()
    if app.config["DATABASE_KIND"] == "postgresql":
        _reset_tables(app)
    yield app
    runtime = app.extensions.get("janus.runtime")
    if runtime is not None:
        runtime.close()
    from janus.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def sqlite_app(tmp_path):
    from janus.services.bootstrap import ensure_schema

    app = make_app({"DATABASE_PATH": str(tmp_path / "janus.db")}, VAULT_LOCAL_PATH=str(tmp_path / "secrets.json"))
    with app.app_context():
        ensure_schema()
    yield app
    runtime = app.extensions.get("janus.runtime")
    if runtime is not None:
        runtime.close()


@pytest.fixture
def upstream():
    server = Upstream().start()
    yield server
    server.stop()
