"""The periodic prune: runs in a server process only when AUDIT_RETENTION_DAYS is set, and prunes by itself."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from janus.extensions import db
from janus.models import ToolCallLog
from janus.runtime import get_runtime
from tests.conftest import make_app


def _app(tmp_path, **overrides):
    from janus.services.bootstrap import ensure_schema

    app = make_app(
        {"DATABASE_PATH": str(tmp_path / "janus.db")}, VAULT_LOCAL_PATH=str(tmp_path / "secrets.json"), **overrides
    )
    with app.app_context():
        ensure_schema()
    return app


def test_without_a_retention_no_pruner_runs(tmp_path):
    app = _app(tmp_path)
    runtime = get_runtime(app)
    try:
        assert runtime.pruner is None
    finally:
        runtime.close()


def test_the_pruner_prunes_old_rows_by_itself(tmp_path):
    app = _app(
        tmp_path,
        AUDIT_RETENTION_DAYS="2",
        AUDIT_EXPORT_DIR=str(tmp_path / "exports"),
        AUDIT_PRUNE_INTERVAL_SECONDS=0.05,
    )
    now = datetime.now(UTC)
    with app.app_context():
        db.session.add_all(
            ToolCallLog(created_at=now - timedelta(days=d), tool_name="t", status="success", duration_ms=1.0)
            for d in (5, 4, 3, 1, 0)
        )
        db.session.commit()
    runtime = get_runtime(app)
    try:
        assert runtime.pruner is not None
        deadline = time.monotonic() + 30
        with app.app_context():
            while time.monotonic() < deadline:
                left = db.session.scalar(select(func.count()).select_from(ToolCallLog))
                db.session.rollback()
                if left == 2:
                    break
                time.sleep(0.05)
            assert left == 2
        exported = list((tmp_path / "exports").glob("*.jsonl"))
        assert sum(len(f.read_text().splitlines()) for f in exported) == 3
    finally:
        runtime.close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
