"""The schema: one migration path on SQLite and PostgreSQL, matching the models, with change tracking."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from janus.extensions import db, migrations_dir
from janus.models import SCHEMA_REVISION, ChangeCounter, ClientToken, Connection, Endpoint
from janus.services.bootstrap import current_revision
from tests.support.catalog import add_connection, add_endpoint, add_token, update


def _counter(app) -> int:
    with app.app_context():
        return db.session.scalar(select(ChangeCounter.value).where(ChangeCounter.name == "catalog"))


def test_schema_revision_constant_is_the_alembic_head():
    script = ScriptDirectory.from_config(_alembic_config())
    assert script.get_current_head() == SCHEMA_REVISION


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", migrations_dir())
    return cfg


def test_migrations_produce_exactly_the_models_schema(app):
    with app.app_context():
        assert current_revision() == SCHEMA_REVISION
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


def test_deleting_a_connection_deletes_its_endpoints(app):
    conn_id = add_connection(app, "A", "http://127.0.0.1:1", "a_")
    add_endpoint(app, conn_id, "one", "/one")
    add_endpoint(app, conn_id, "two", "/two")
    with app.app_context():
        db.session.execute(text("DELETE FROM connections WHERE id = :id"), {"id": conn_id})
        db.session.commit()
        assert db.session.scalar(select(db.func.count(Endpoint.id))) == 0


def test_catalog_changes_bump_the_counter_but_token_use_does_not(app):
    start = _counter(app)
    conn_id = add_connection(app, "A", "http://127.0.0.1:1", "a_")
    ep_id = add_endpoint(app, conn_id, "one", "/one")
    token_id = add_token(app, "T", "t" * 30, "a_*")
    after_adds = _counter(app)
    assert after_adds == start + 3
    update(app, ClientToken, token_id, last_used_at=datetime.now(UTC))
    assert _counter(app) == after_adds
    update(app, Endpoint, ep_id, description="new words")
    update(app, Connection, conn_id, enabled=False)
    assert _counter(app) == after_adds + 2


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_app):
    with sqlite_app.app_context(), db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_flask_db_upgrade_migrates_a_fresh_database(tmp_path):
    database = tmp_path / "fresh.db"
    env = {**os.environ, "FLASK_APP": "janus", "DATABASE_PATH": str(database)}
    env.pop("DATABASE_URL", None)
    out = subprocess.run(
        [sys.executable, "-m", "flask", "db", "upgrade"], capture_output=True, env=env, timeout=60, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr.decode()
    con = sqlite3.connect(database)
    assert con.execute("SELECT version_num FROM alembic_version").fetchone() == (SCHEMA_REVISION,)
    assert con.execute("SELECT name, value FROM change_counters").fetchall() == [("catalog", 0)]
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"connections", "endpoints", "client_tokens", "users", "tool_call_logs", "admin_audit_logs"} <= tables


def test_the_token_certificate_migration_downgrades_and_upgrades_again_keeping_tokens(app):
    """0007_token_certificate on SQLite (batch mode) and PostgreSQL: down drops the binding, up restores the
    columns and their unique constraints."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import inspect

    from janus.extensions import init_migrations

    add_token(app, "kept", "token_value_kept_across_migrations_01", "*")
    with app.app_context():
        init_migrations(app)
        downgrade(directory=migrations_dir(), revision="0005_token_hash_key")
        columns = {c["name"] for c in inspect(db.engine).get_columns("client_tokens")}
        assert "cert_fingerprint" not in columns and "cert_subject" not in columns
        upgrade(directory=migrations_dir())
        assert current_revision() == SCHEMA_REVISION
        uniques = {tuple(u["column_names"]) for u in inspect(db.engine).get_unique_constraints("client_tokens")}
        assert {("cert_fingerprint",), ("cert_subject",)} <= uniques
        assert db.session.scalar(select(ClientToken.name)) == "kept"


def test_the_audit_rollup_migration_takes_an_existing_audit_log_and_the_first_read_counts_it(app):
    """0010_audit_rollups on SQLite and PostgreSQL: audit rows written before the upgrade are rolled up by the
    first telemetry read (nothing is backfilled in the migration itself); down drops the rollup tables."""
    from datetime import timedelta

    from flask_migrate import downgrade, upgrade
    from sqlalchemy import inspect

    from janus.extensions import init_migrations
    from janus.services import telemetry

    now = datetime.now(UTC)
    with app.app_context():
        init_migrations(app)
        downgrade(directory=migrations_dir(), revision="0008_token_rate_limits")
        assert not inspect(db.engine).has_table("audit_rollups")
        for minutes in (5, 50, 500):
            db.session.execute(
                text(
                    "INSERT INTO tool_call_logs (created_at, tool_name, status, duration_ms) "
                    "VALUES (:at, 'old_tool', 'success', 12.5)"
                ),
                {"at": (now - timedelta(minutes=minutes)).replace(tzinfo=None)},
            )
        db.session.commit()
        upgrade(directory=migrations_dir())
        assert current_revision() == SCHEMA_REVISION
        day = telemetry.traffic("24h", now=now)
        assert (day["total"], day["tools"][0]["tool"], day["avg_ms"], day["pending_rows"]) == (3, "old_tool", 12.5, 0)


def test_the_header_params_migration_downgrades_and_upgrades_again_keeping_endpoints(app):
    """0017_endpoint_header_params on SQLite (batch mode) and PostgreSQL: down drops the column and keeps every
    endpoint; up adds it back as NULL (no header parameters), which the catalog serves as none."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import inspect

    from janus.extensions import init_migrations
    from janus.services.catalog_loader import load_snapshot

    conn_id = add_connection(app, "H", "http://127.0.0.1:1", "h_")
    add_endpoint(
        app,
        conn_id,
        "traced",
        "/t",
        schema={"type": "object", "properties": {"rid": {"type": "string"}}},
        header_params=[{"argument": "rid", "header": "X-Request-Id"}],
    )
    with app.app_context():
        tool = load_snapshot(db.engine).by_name["h_traced"]
        assert tool.header_params is not None and tool.header_params.arguments == (("rid", "X-Request-Id"),)
        init_migrations(app)
        downgrade(directory=migrations_dir(), revision="0016_upstream_resilience")
        assert "header_params" not in {c["name"] for c in inspect(db.engine).get_columns("endpoints")}
        assert db.session.execute(text("SELECT tool_name FROM endpoints")).scalars().all() == ["traced"]
        db.session.rollback()  # no read lock held into the upgrade's ALTER TABLE (PostgreSQL)
        upgrade(directory=migrations_dir())
        assert current_revision() == SCHEMA_REVISION == "0017_endpoint_header_params"
        assert db.session.scalar(select(Endpoint.header_params)) is None
        assert load_snapshot(db.engine).by_name["h_traced"].header_params is None
