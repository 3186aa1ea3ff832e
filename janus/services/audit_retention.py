"""AUDIT_RETENTION_DAYS: tool-call audit rows older than that are exported to a file, then deleted.

Rows go in batches of PRUNE_BATCH, oldest first. Each batch is written to the export file
(AUDIT_EXPORT_DIR, JSON Lines or CSV, every column of tool_call_logs), flushed and fsync'd, and only
then deleted, in its own short transaction, with a pause after it: the audit writer and tool calls
wait for one batch's delete at most, never for the whole prune. Killed at any point, the worst case
is a batch exported twice (the next run exports it again before deleting it); a row is never gone
without being in an export file.

Only rows the rollups have counted are deleted (id at or below the watermark, not in an open gap),
so telemetry over pruned days keeps working: hourly rollups are kept for ever (a few rows per tool
per hour), minute rollups for MINUTE_ROLLUP_DAYS (the finest window, the last hour, needs no more).
The newest audit row is never deleted: SQLite numbers a new row after the highest id left, and the
watermark relies on ids only growing.

One prune at a time across processes and replicas: a session advisory lock on PostgreSQL, a lock
file beside the database on SQLite; a second prune finds it taken and skips.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from flask import current_app
from sqlalchemy import delete, func, select, text

from janus.extensions import db
from janus.models import AuditRollup, AuditRollupGap, AuditRollupLatency, ToolCallLog
from janus.services import audit_rollups
from janus.services._common import iso
from janus.services.audit_queries import safe_cell
from janus.services.errors import ValidationError

PRUNE_BATCH = 5_000
PRUNE_PAUSE_SECONDS = 0.1
MINUTE_ROLLUP_DAYS = 8
IDS_PER_DELETE = 500
FORMATS = ("jsonl", "csv")
_PG_PRUNE_LOCK = 0x4A414E5550  # "JANUP"


@dataclass
class PruneResult:
    pruned: int = 0
    exported_to: str | None = None
    cutoff: str | None = None
    skipped: str | None = None  # why nothing was done (another prune holds the lock)


def columns() -> list[str]:
    """Every column of the tool-call audit table: an export is the rows as they were, nothing added."""
    return [c.name for c in ToolCallLog.__table__.columns]


def prune(
    *,
    days: int | None = None,
    export_dir: str | None = None,
    fmt: str | None = None,
    now: datetime | None = None,
    batch: int = PRUNE_BATCH,
    pause: float = PRUNE_PAUSE_SECONDS,
) -> PruneResult:
    """Export and delete the tool-call rows older than `days` (default AUDIT_RETENTION_DAYS)."""
    cfg = current_app.config
    days = days if days is not None else cfg.get("AUDIT_RETENTION_DAYS")
    if days is None:
        raise ValidationError("AUDIT_RETENTION_DAYS is not set: audit rows are kept for ever", field="days")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValidationError("the retention must be a whole number of days, 1 or more", field="days")
    directory = export_dir or cfg.get("AUDIT_EXPORT_DIR")
    if not directory:
        raise ValidationError("AUDIT_EXPORT_DIR is not set: pruned rows must be exported first", field="export_dir")
    fmt = fmt or cfg.get("AUDIT_EXPORT_FORMAT") or "jsonl"
    if fmt not in FORMATS:
        raise ValidationError(f"the export format must be one of {', '.join(FORMATS)}", field="format")
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=days)
    result = PruneResult(cutoff=iso(cutoff))
    with _prune_lock() as held:
        if not held:
            result.skipped = "another prune is running"
            return result
        audit_rollups.advance(budget_seconds=None)  # every row about to go is counted first
        path = Path(directory) / f"tool-calls-{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}.{fmt}"
        with _ExportFile(path, fmt) as export:
            after = 0
            while True:
                found = _next_batch(cutoff, after, batch, export)
                if found is None:
                    break
                ids, after = found
                if ids:
                    export.sync()  # on disk before a single row of it is deleted
                    for i in range(0, len(ids), IDS_PER_DELETE):
                        db.session.execute(delete(ToolCallLog).where(ToolCallLog.id.in_(ids[i : i + IDS_PER_DELETE])))
                    db.session.commit()
                    result.pruned += len(ids)
                    time.sleep(pause)
        result.exported_to = str(path) if result.pruned else None
        _prune_minute_rollups(now - timedelta(days=MINUTE_ROLLUP_DAYS), batch)
    return result


def _next_batch(cutoff: datetime, after: int, batch: int, export: _ExportFile) -> tuple[list[int], int] | None:
    """Write the next batch of prunable rows to the export: (their ids, the last id looked at), None at the end."""
    last = audit_rollups.watermark()
    newest = db.session.scalar(select(func.max(ToolCallLog.id))) or 0
    gaps = db.session.execute(select(AuditRollupGap.low, AuditRollupGap.high)).all()
    rows = db.session.execute(
        select(*ToolCallLog.__table__.columns)
        .where(
            ToolCallLog.created_at < cutoff,
            ToolCallLog.id > after,
            ToolCallLog.id <= last,
            ToolCallLog.id < newest,
        )
        .order_by(ToolCallLog.id)
        .limit(batch)
    ).all()
    db.session.rollback()  # no snapshot or lock held while the file is written
    if not rows:
        return None
    # A row in an open gap appeared after the rollup passed it: not counted yet, so not deleted yet.
    kept = [r for r in rows if not any(low <= r.id <= high for low, high in gaps)]
    for row in kept:
        export.write(row._mapping)
    return [r.id for r in kept], rows[-1].id


def _prune_minute_rollups(before: datetime, batch: int) -> None:
    """Delete minute rollups older than `before`, about `batch` rows a transaction (hourly ones stay)."""
    cutoff = int(before.timestamp()) // 60 * 60
    for model in (AuditRollup, AuditRollupLatency):
        old = (model.span == audit_rollups.MINUTE, model.bucket < cutoff)
        for _ in range(10_000):  # bounded: at most batch × 10,000 rows a run
            edge = db.session.scalar(select(model.bucket).where(*old).order_by(model.bucket).offset(batch).limit(1))
            db.session.execute(delete(model).where(*old, *(() if edge is None else (model.bucket <= edge,))))
            db.session.commit()
            if edge is None:
                break


class _ExportFile:
    """An export created on the first row (0600, never overwriting), synced to disk on demand."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path, self.fmt = path, fmt
        self.handle: IO[str] | None = None
        self.writer: Any = None

    def __enter__(self) -> _ExportFile:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.sync()
            self.handle.close()
            _sync_directory(self.path.parent)

    def write(self, row: Any) -> None:
        if self.handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self.handle = open(fd, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in __exit__
            if self.fmt == "csv":
                self.writer = csv.writer(self.handle)
                self.writer.writerow(columns())
            _sync_directory(self.path.parent)
        self.handle.write(format_row(row, self.fmt, self.writer))

    def sync(self) -> None:
        if self.handle is not None:
            self.handle.flush()
            os.fsync(self.handle.fileno())


def format_row(row: Any, fmt: str, writer: Any = None) -> str:
    """One audit row as a JSON Lines line, or (with a csv writer over a file) written as a CSV record."""
    values = {name: row[name] for name in columns()}
    if fmt == "jsonl":
        return json.dumps({k: iso(v) if isinstance(v, datetime) else v for k, v in values.items()}) + "\n"
    writer.writerow([safe_cell(_csv_cell(v)) for v in values.values()])
    return ""


def export_rows(*, since: str | None = None, until: str | None = None, fmt: str = "jsonl") -> Iterator[str]:
    """Every column of the tool calls in [since, until], oldest first, as JSON Lines or CSV text chunks.

    Checked now (a bad argument raises before any byte); read lazily in keyset batches, so memory
    stays flat however long the range."""
    from janus.services.audit_queries import EXPORT_BATCH, parse_range

    if fmt not in FORMATS:
        raise ValidationError(f"format must be one of {', '.join(FORMATS)}", field="format")
    start, end = parse_range(since, until)
    conditions = []
    if start is not None:
        conditions.append(ToolCallLog.created_at >= start)
    if end is not None:
        conditions.append(ToolCallLog.created_at <= end)

    def chunks() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer) if fmt == "csv" else None
        if writer is not None:
            writer.writerow(columns())
        after = 0
        while True:
            rows = db.session.execute(
                select(*ToolCallLog.__table__.columns)
                .where(*conditions, ToolCallLog.id > after)
                .order_by(ToolCallLog.id)
                .limit(EXPORT_BATCH)
            ).all()
            for row in rows:
                buffer.write(format_row(row._mapping, fmt, writer))
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if len(rows) < EXPORT_BATCH:
                return
            after = rows[-1].id

    return chunks()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    return iso(value) if isinstance(value, datetime) else value


def _sync_directory(path: Path) -> None:
    """The file's name is durable too (POSIX: fsync the directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _prune_lock() -> Iterator[bool]:
    engine = db.engine
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            held = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": _PG_PRUNE_LOCK}))
            conn.commit()
            try:
                yield held
            finally:
                if held:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_PRUNE_LOCK})
                    conn.commit()
        return
    database = engine.url.database or ""
    if not database or database == ":memory:":
        yield True
        return
    from filelock import FileLock, Timeout

    lock = FileLock(database + ".prune.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()
