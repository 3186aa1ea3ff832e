"""The batched audit writer: every record lands, in order, without bumping the catalog."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import select

from janus.extensions import db
from janus.gateway.tool_backend import CallRecord, arguments_digest
from janus.models import ChangeCounter, ClientToken, ToolCallLog
from janus.services.audit import AuditWriter
from tests.support.catalog import add_token


def _record(i: int, token_id: str | None = None) -> CallRecord:
    return CallRecord(
        tool_name=f"tool_{i % 3}",
        status="success",
        duration_ms=1.5,
        token_id=token_id,
        token_name="T" if token_id else None,
        transport="test",
        http_status=200,
        arguments_digest=arguments_digest({"i": i}),
    )


def test_records_from_many_threads_are_all_written_and_flush_waits_for_them(app, tmp_path):
    token_id = add_token(app, "T", "t" * 30, "*")
    with app.app_context():
        engine = db.engine
        counter_before = db.session.scalar(select(ChangeCounter.value))
    writer = AuditWriter(engine, tmp_path / "spool", interval=0.05, max_batch=64)
    threads = [
        threading.Thread(target=lambda k=k: [writer.record(_record(k * 100 + i, token_id)) for i in range(100)])
        for k in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert writer.flush(timeout=30)
    with app.app_context():
        assert db.session.scalar(select(db.func.count(ToolCallLog.id))) == 800
        assert db.session.get(ClientToken, token_id).last_used_at is not None
        assert db.session.scalar(select(ChangeCounter.value)) == counter_before
    writer.close()


def test_a_failing_database_is_retried_and_reported_without_blocking_callers(app, caplog, tmp_path):
    with app.app_context():
        engine = db.engine
    writer = AuditWriter(engine, tmp_path / "spool", interval=0.01, retries=2)
    bad = CallRecord(
        tool_name="x" * 5000,
        status="success",
        duration_ms=1,
        token_id=None,
        token_name=None,
        transport="test",
        created_at=datetime.now(UTC),
    )
    if engine.dialect.name == "sqlite":
        # SQLite does not enforce VARCHAR lengths; a NOT NULL violation fails on both backends.
        bad = CallRecord(tool_name=None, status="success", duration_ms=1, token_id=None, token_name=None, transport="t")  # type: ignore[arg-type]
    writer.record(bad)
    assert writer.flush(timeout=10)  # the failed batch is accounted for, so flush does not hang
    assert "could not write 1 tool-call audit rows" in caplog.text
    writer.record(_record(1))
    assert writer.flush(timeout=10)
    with app.app_context():
        assert db.session.scalar(select(db.func.count(ToolCallLog.id))) == 1
    writer.close()


def test_one_bad_row_does_not_cost_the_rest_of_its_batch(app, caplog, tmp_path):
    with app.app_context():
        engine = db.engine
    writer = AuditWriter(engine, tmp_path / "spool", interval=0.5, max_batch=100, retries=1)
    poison = CallRecord(tool_name=None, status="success", duration_ms=1, token_id=None, token_name=None, transport="t")  # type: ignore[arg-type]
    for i in range(5):
        writer.record(_record(i))
    writer.record(poison)
    for i in range(5, 10):
        writer.record(_record(i))
    assert writer.flush(timeout=20)
    with app.app_context():
        assert db.session.scalar(select(db.func.count(ToolCallLog.id))) == 10
    assert "could not write 1 tool-call audit rows" in caplog.text
    writer.close()
