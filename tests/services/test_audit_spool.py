"""The audit spool: records of a process that died are adopted and written once, and a locked database
only delays them."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

from sqlalchemy import func, select

from janus.extensions import db
from janus.gateway.tool_backend import CallRecord
from janus.models import ToolCallLog
from janus.services.audit import AuditWriter
from janus.services.audit_spool import Spool, find_orphans
from tests.support.waiting import wait_for


def _record(i: int) -> CallRecord:
    return CallRecord(
        tool_name=f"tool_{i}", status="success", duration_ms=1.0, token_id=None, token_name="T", transport="test"
    )


def _count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(ToolCallLog.id)))


def _spool_and_die(spool_dir, records: int) -> None:
    """A real process spools `records` records and is SIGKILLed before any writer commits them."""
    script = textwrap.dedent(
        f"""
        import os, signal
        from janus.gateway.tool_backend import CallRecord
        from janus.services.audit_spool import Spool
        spool = Spool({str(spool_dir)!r})
        for i in range({records}):
            spool.append(dict(vars(CallRecord(tool_name=f"dead_{{i}}", status="success", duration_ms=1.0,
                                              token_id=None, token_name="T", transport="test"))))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60, env=os.environ.copy())
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()


def test_a_killed_process_spool_is_adopted_and_written_once(app, tmp_path):
    spool_dir = tmp_path / "spool"
    _spool_and_die(spool_dir, 25)
    orphans = find_orphans(spool_dir, None)
    for orphan in orphans:
        orphan.release()  # only looked at here: the writer adopts it
    assert [len(o.segments) for o in orphans] == [1]
    with app.app_context():
        engine = db.engine
    writer = AuditWriter(engine, spool_dir, interval=0.01)
    writer.start()  # adopts at once
    wait_for(lambda: _count(app) == 25, timeout=30, what="the dead process's 25 rows")
    wait_for(lambda: not find_orphans(spool_dir, writer._spool.prefix), timeout=10, what="the orphan deleted")
    writer.record(_record(1))
    assert writer.flush(timeout=20)
    writer.close()
    assert _count(app) == 26
    assert sorted(os.listdir(spool_dir)) == []  # a clean close leaves nothing to adopt


def test_a_replay_of_committed_records_adds_no_duplicates(app, tmp_path):
    spool_dir = tmp_path / "spool"
    spool = Spool(spool_dir)
    for i in range(5):
        spool.append(dict(vars(_record(i))))
    records, _ = spool.read(100)
    with app.app_context():
        engine = db.engine
    writer = AuditWriter(engine, tmp_path / "other", interval=0.01)
    assert writer._write_rows(records)  # committed, as if the process then crashed before truncating
    assert _count(app) == 5
    spool.close(remove=False)  # the process "dies": its spool is left for adoption, committed rows included
    writer.close()
    adopter = AuditWriter(engine, spool_dir, interval=0.01)
    adopter.start()
    wait_for(lambda: not (spool_dir / (spool.prefix + ".lock")).exists(), timeout=20, what="the spool adopted")
    adopter.close()
    with app.app_context():
        ids = db.session.scalars(select(ToolCallLog.call_id)).all()
    assert len(ids) == 5 and len(set(ids)) == 5


def test_records_wait_on_disk_while_sqlite_is_locked_and_arrive_after(sqlite_app, tmp_path):
    with sqlite_app.app_context():
        engine = db.engine
        path = engine.url.database
    writer = AuditWriter(engine, tmp_path / "spool", interval=0.01)
    writer.start()
    holder = sqlite3.connect(path, timeout=0)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        for i in range(50):
            writer.record(_record(i))  # returns at once: the records go to disk, not to the locked database
        assert not writer.flush(timeout=0.5)
        spooled = sum(os.path.getsize(tmp_path / "spool" / n) for n in os.listdir(tmp_path / "spool"))
        assert spooled > 0
    finally:
        holder.rollback()
        holder.close()
    assert writer.flush(timeout=60)
    writer.close()
    assert _count(sqlite_app) == 50
