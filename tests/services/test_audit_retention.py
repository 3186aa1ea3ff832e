"""AUDIT_RETENTION_DAYS (SQLite and PostgreSQL): old rows are exported, fsync'd, then deleted in batches; the
export holds exactly the pruned rows; telemetry over pruned days is unchanged; a killed prune loses nothing."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from janus.extensions import db
from janus.models import AuditRollup, ToolCallLog
from janus.services import audit_retention, telemetry
from janus.services.errors import ValidationError
from tests.support.stdio import gateway_env

NOW = datetime(2026, 6, 29, 8, 30, tzinfo=UTC)


def _seed(days_back: list[float], *, at: datetime = NOW) -> None:
    db.session.add_all(
        ToolCallLog(
            created_at=at - timedelta(days=d),
            tool_name=f"tool_{i % 3}",
            status="success" if i % 4 else "failure",
            http_status=200,
            duration_ms=float(i),
            error_message="=cmd|' /C calc'!A0" if i == 1 else None,  # a would-be spreadsheet formula
            arguments_digest=f"{i:064x}",
            token_name="Ops",
            transport="streamable_http",
        )
        for i, d in enumerate(days_back)
    )
    db.session.commit()


def _ids(condition=None) -> list[int]:
    query = select(ToolCallLog.id).order_by(ToolCallLog.id)
    return list(db.session.scalars(query if condition is None else query.where(condition)))


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_prune_exports_then_deletes_exactly_the_old_rows_in_batches(app, tmp_path):
    ages = [10, 9.5, 8, 3.2, 3.1, 2.9, 1, 0.5, 0.1] * 3
    with app.app_context():
        _seed(ages)
        old = _ids(ToolCallLog.created_at < NOW - timedelta(days=3))
        kept = _ids(ToolCallLog.created_at >= NOW - timedelta(days=3))
        week_before = telemetry.traffic("7d", now=NOW)
        statements: list[str] = []
        from sqlalchemy import event

        def count_deletes(conn, cursor, statement, *args):
            if statement.lstrip().upper().startswith("DELETE FROM TOOL_CALL_LOGS"):
                statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", count_deletes)
        try:
            result = audit_retention.prune(days=3, export_dir=str(tmp_path / "exports"), now=NOW, batch=4, pause=0)
        finally:
            event.remove(db.engine, "before_cursor_execute", count_deletes)
        assert result.pruned == len(old) == 15 and result.cutoff == "2026-06-26T08:30:00Z"
        assert len(statements) == 4  # ceil(15 / 4) batches, one delete each
        assert _ids() == kept
        exported = _jsonl(Path(result.exported_to))
        assert [r["id"] for r in exported] == old
        assert set(exported[0]) == {c.name for c in ToolCallLog.__table__.columns}  # the columns, nothing added
        row = db.session.get(ToolCallLog, kept[0])
        assert row is not None and row.id not in {r["id"] for r in exported}
        text = Path(result.exported_to).read_text(encoding="utf-8")
        for secret in (app.config["JWT_SECRET"], app.config["TOKEN_HASH_KEY"], app.config["ADMIN_PASSWORD"]):
            assert secret not in text
        assert oct(os.stat(result.exported_to).st_mode & 0o777) == "0o600"
        # The rollups of the pruned days stay: the week's numbers are what they were.
        week_after = telemetry.traffic("7d", now=NOW)
        assert (week_after["total"], week_after["volume"], week_after["tools"]) == (
            week_before["total"],
            week_before["volume"],
            week_before["tools"],
        )
        # Nothing older is left: a second run exports nothing and creates no file.
        again = audit_retention.prune(days=3, export_dir=str(tmp_path / "exports"), now=NOW, pause=0)
        assert (again.pruned, again.exported_to) == (0, None) and len(list((tmp_path / "exports").iterdir())) == 1


def test_the_csv_export_has_a_header_and_defuses_formulas(app, tmp_path):
    with app.app_context():
        _seed([5, 5, 0])
        result = audit_retention.prune(days=1, export_dir=str(tmp_path), fmt="csv", now=NOW, pause=0)
    with open(result.exported_to, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == audit_retention.columns() and len(rows) == 3
    assert rows[2][rows[0].index("error_message")] == "'=cmd|' /C calc'!A0"


def test_the_newest_row_and_rows_not_yet_rolled_up_are_never_pruned(app, tmp_path):
    with app.app_context():
        _seed([9, 8])  # every row old; the newest stays so ids keep growing (SQLite reuses the highest)
        result = audit_retention.prune(days=1, export_dir=str(tmp_path), now=NOW, pause=0)
        assert result.pruned == 1 and len(_ids()) == 1
        assert db.session.scalar(select(func.sum(AuditRollup.calls)).where(AuditRollup.span == 3600)) == 2


def test_a_second_prune_while_one_runs_is_skipped(app, tmp_path):
    with app.app_context():
        _seed([9, 8, 7])
        with audit_retention._prune_lock() as held:
            assert held
            result = audit_retention.prune(days=1, export_dir=str(tmp_path), now=NOW, pause=0)
        assert result.skipped == "another prune is running" and result.pruned == 0 and len(_ids()) == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "AUDIT_RETENTION_DAYS is not set"),
        ({"days": 0}, "whole number of days, 1 or more"),
        ({"days": 3, "export_dir": ""}, "AUDIT_EXPORT_DIR is not set"),
        ({"days": 3, "export_dir": "x", "fmt": "xml"}, "one of jsonl, csv"),
    ],
)
def test_a_prune_without_what_it_needs_is_refused_with_a_message(app, kwargs, message):
    with app.app_context(), pytest.raises(ValidationError) as refused:
        audit_retention.prune(**kwargs)
    assert message in refused.value.message


def test_the_range_export_streams_every_column_oldest_first(app):
    with app.app_context():
        _seed([3, 2, 1, 0.5])
        chunks = audit_retention.export_rows(since="2026-06-27T00:00:00Z", until="2026-06-28T12:00:00Z")
        rows = [json.loads(line) for line in "".join(chunks).splitlines()]
        assert [r["created_at"] for r in rows] == ["2026-06-27T08:30:00Z", "2026-06-28T08:30:00Z"]
        with pytest.raises(ValidationError) as refused:
            audit_retention.export_rows(since="yesterday")
        assert refused.value.field == "since"


def test_a_prune_killed_midway_loses_no_row_unexported(tmp_path):
    """A real `flask janus audit prune` process, SIGKILLed between batches, then run again to the end."""
    database = tmp_path / "janus.db"
    exports = tmp_path / "exports"
    flask = str(Path(sys.executable).with_name("flask"))
    env = gateway_env(str(database), AUDIT_RETENTION_DAYS="1", AUDIT_EXPORT_DIR=str(exports))
    subprocess.run(
        [flask, "--app", "janus", "janus", "bootstrap"], env=env, capture_output=True, timeout=120, check=True
    )
    from tests.conftest import make_app

    app = make_app({"DATABASE_PATH": str(database)}, VAULT_LOCAL_PATH=str(tmp_path / "secrets.json"))
    now = datetime.now(UTC)
    with app.app_context():
        _seed([5.0 + i / 100 for i in range(200)] + [0], at=now)
        everything = set(_ids())
    prune = [flask, "--app", "janus", "janus", "audit", "prune", "--batch", "10", "--pause", "0.2"]
    process = subprocess.Popen(prune, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            files = list(exports.glob("*.jsonl")) if exports.exists() else []
            if files and len(files[0].read_text().splitlines()) >= 30:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
        process.stdout.close()
        process.stderr.close()
    with app.app_context():
        left = set(_ids())
        db.session.remove()
        db.engine.dispose()
    exported = {r["id"] for f in exports.glob("*.jsonl") for r in _jsonl(f)}
    assert 0 < len(everything - left) < 200  # killed midway
    assert everything - left <= exported  # every deleted row is in an export
    finished = subprocess.run(prune, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0 and "pruned" in finished.stdout, finished.stderr
    exported = {r["id"] for f in exports.glob("*.jsonl") for r in _jsonl(f)}
    with app.app_context():
        assert len(_ids()) == 1 and everything - set(_ids()) <= exported
        db.session.remove()
        db.engine.dispose()
