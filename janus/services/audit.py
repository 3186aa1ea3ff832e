"""Tool-call audit rows: on disk before the call is answered, in the database soon after.

A per-call INSERT+COMMIT would put a synchronous database write (and, on SQLite, the file lock)
inside every tool call. Instead `record` appends the record to this process's spool
(janus.services.audit_spool: one small write, no SQL) and one writer thread per process reads the
spool back and commits it in batches a few times a second. While the database is away or locked the
writer keeps retrying, with a capped backoff and one log line per outage, for as long as it takes:
the records wait on disk, not in memory, and the calls never wait for them. A record is dropped only
when the database refuses the row itself (a constraint): then it is logged and kept in
`rejected.jsonl` beside the spool. `flush()` waits until everything recorded is committed.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import DateTime, insert, update
from sqlalchemy.engine import Engine

from janus.gateway.tool_backend import CallRecord
from janus.models import ClientToken, ToolCallLog
from janus.models._types import UTCDateTime
from janus.services.audit_spool import Mark, Spool, find_orphans
from janus.services.errors import database_unavailable

log = logging.getLogger(__name__)

REJECTED_FILE = "rejected.jsonl"
MAX_BACKOFF_SECONDS = 5.0
ADOPT_EVERY_SECONDS = 10.0  # how often a writer looks for the spools of dead processes
_COLUMNS = frozenset(c.name for c in ToolCallLog.__table__.columns) - {"id"}
_DATETIME_COLUMNS = frozenset(
    c.name for c in ToolCallLog.__table__.columns if isinstance(c.type, DateTime | UTCDateTime)
)


def _row(record: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """A spooled record as a tool_call_logs row (the fields that have a column) and its token id.

    Driven by the record's own keys, so a field added to CallRecord flows through once its column exists.
    """
    token_id = record.get("token_id")
    row = {k: v for k, v in record.items() if k in _COLUMNS}
    for name in _DATETIME_COLUMNS:
        value = row.get(name)
        if isinstance(value, str):
            row[name] = datetime.fromisoformat(value)
    return row, token_id


class AuditWriter:
    def __init__(
        self,
        engine: Engine,
        spool_dir: str | os.PathLike[str],
        *,
        interval: float = 0.2,
        max_batch: int = 500,
        retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`retries`: attempts at a batch the database refuses (a constraint) before it goes row by row."""
        self._engine = engine
        self._spool_dir = Path(spool_dir)
        self._interval = interval
        self._max_batch = max_batch
        self._retries = retries
        self._sleep = sleep
        self._spool: Spool | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._stopping = False
        self._closed = False
        self._next_adoption = 0.0
        self._outage_since: float | None = None

    # -- the per-call path ---------------------------------------------------------------

    def record(self, rec: CallRecord) -> None:
        """Put the record on disk (no SQL, no waiting on the database); the writer commits it later."""
        spool = self._spool
        if spool is None or spool.pid != os.getpid() or self._closed:
            spool = self._start()
            if spool is None:  # closed: a straggler is written now rather than lost
                self._write_rows([dict(vars(rec))], synchronous=True)
                return
        # vars(), not dataclasses.asdict: the fields are flat values and asdict deep-copies each one.
        row = dict(vars(rec))
        with self._lock:
            self._pending += 1
        try:
            spool.append(row)
        except OSError:
            log.exception("could not spool a tool-call audit record; writing it to the database directly")
            self._write_rows([row], synchronous=True)
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def spool_dir(self) -> Path:
        return self._spool_dir

    def start(self) -> None:
        """Open this process's spool and start its writer, which adopts the spools of dead processes."""
        self._start()

    def _start(self) -> Spool | None:
        # A forked worker inherits the object but neither the spool (its lock) nor the thread.
        with self._lock:
            if self._closed:
                return None
            if self._spool is None or self._spool.pid != os.getpid():
                self._spool = Spool(self._spool_dir)
                self._pending = 0
                self._next_adoption = 0.0
                self._thread = threading.Thread(target=self._run, name="janus-audit", daemon=True)
                self._thread.start()
            return self._spool

    def flush(self, timeout: float = 10.0, *, through_outage: bool = True) -> bool:
        """Wait until everything recorded so far is committed.

        `through_outage=False` (a process about to exit): give up at once while the database is away; the
        records are on disk, and the next process on the spool directory adopts them.
        """
        deadline = time.monotonic() + timeout
        self._wake.set()
        with self._idle:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (not through_outage and self._outage_since is not None):
                    return False
                self._idle.wait(min(remaining, self._interval))
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is spooled, within `timeout`; what is not stays on disk for the next process to adopt."""
        committed = self.flush(timeout)
        with self._lock:
            self._closed = True
            self._stopping = True
            thread, spool = self._thread, self._spool
        self._wake.set()
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout)
        if spool is not None and spool.pid == os.getpid():
            if not committed:
                log.error(
                    "%d tool-call audit records stay in the spool %s for the next start", self._pending, spool.prefix
                )
            spool.close(remove=committed)
            self._spool = None

    # -- the writer thread --------------------------------------------------------------

    def _run(self) -> None:
        # One writer per process: this loop must outlive any error.
        while not self._stopping:
            try:
                if time.monotonic() >= self._next_adoption:
                    self._next_adoption = time.monotonic() + ADOPT_EVERY_SECONDS
                    self._adopt_orphans()
                if not self._write_some():
                    self._wake.wait(self._interval)
                    self._wake.clear()
            except Exception:
                log.exception("audit writer error; continuing")
                self._sleep(self._interval)

    def _write_some(self) -> bool:
        """Commit the next batch of this process's spool; False when there was none."""
        spool = self._spool
        if spool is None or spool.pid != os.getpid():
            return False
        records, mark = spool.read(self._max_batch)
        if mark is None:
            return False
        if self._write_rows(records):
            self._committed(spool, mark, len(records))
        return True

    def _committed(self, spool: Spool, mark: Mark, count: int) -> None:
        spool.commit(mark)
        with self._idle:
            self._pending = max(0, self._pending - count)
            self._idle.notify_all()

    def _adopt_orphans(self) -> None:
        spool = self._spool
        for orphan in find_orphans(self._spool_dir, spool.prefix if spool else None):
            replayed = 0
            try:
                for _path, records in orphan.records(self._max_batch):
                    if not self._write_rows(records):  # stopping with the database still away
                        orphan.release()
                        return
                    replayed += len(records)
            except BaseException:
                orphan.release()
                raise
            orphan.finish()
            if replayed:
                log.warning("adopted the audit spool of a process that ended (%s): %d records", orphan.prefix, replayed)

    def _write_rows(self, records: list[dict[str, Any]], *, synchronous: bool = False) -> bool:
        """Commit `records`, retrying for as long as the database is away; False only when told to stop.

        `synchronous`: one attempt series, from a caller that cannot wait forever (a straggler after close).
        """
        attempt = 0
        refusals = 0
        while True:
            try:
                self._insert(records)
                self._recovered()
                return True
            except Exception as exc:  # noqa: BLE001 - whatever the database says, the records are kept (retried or rejected)
                if not database_unavailable(exc):
                    refusals += 1
                    if refusals < self._retries:
                        continue
                    self._row_by_row(records)
                    self._recovered()
                    return True
                self._unavailable(exc)
                if synchronous and attempt >= self._retries:
                    log.error("could not write %d tool-call audit rows: the database is unavailable", len(records))
                    self._reject(records)
                    return True
            if self._stopping and not synchronous:
                return False
            self._sleep(min(MAX_BACKOFF_SECONDS, 0.05 * (2**attempt)))
            attempt = min(attempt + 1, 10)

    def _unavailable(self, exc: BaseException) -> None:
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            # One line per outage, not per attempt; the message of a DBAPI error names no credentials.
            log.error(
                "audit database unavailable (%s); tool-call records wait in the spool %s and are retried",
                type(getattr(exc, "orig", None) or exc).__name__,
                self._spool_dir,
            )

    def _recovered(self) -> None:
        if self._outage_since is not None:
            log.warning("audit database available again after %.1f s", time.monotonic() - self._outage_since)
            self._outage_since = None

    def _row_by_row(self, records: list[dict[str, Any]]) -> None:
        # One bad row must not cost the others.
        failed = []
        for record in records:
            try:
                self._insert([record])
            except Exception as exc:
                if database_unavailable(exc):
                    raise
                failed.append(record)
        if failed:
            log.error("could not write %d tool-call audit rows", len(failed))
            self._reject(failed)

    def _reject(self, records: list[dict[str, Any]]) -> None:
        """Keep what the database refused where an operator finds it: never dropped without a trace."""
        try:
            self._spool_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self._spool_dir / REJECTED_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, b"".join(orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE, default=str) for r in records))
            finally:
                os.close(fd)
        except OSError:
            log.exception("could not keep %d refused audit records in %s", len(records), REJECTED_FILE)

    def _insert(self, records: list[dict[str, Any]]) -> None:
        rows = []
        last_used: dict[str, Any] = {}
        for record in records:
            row, token_id = _row(record)
            rows.append(row)
            if token_id:
                last_used[token_id] = row.get("created_at")
        with self._engine.begin() as conn:
            conn.execute(_insert_ignoring_replays(self._engine.dialect.name), rows)
            for token_id, ts in last_used.items():
                # Core UPDATE: bypasses the ORM hook, so the catalog does not reload.
                conn.execute(update(ClientToken).where(ClientToken.id == token_id).values(last_used_at=ts))


@functools.cache  # one statement per dialect: SQLAlchemy caches its compiled form by identity
def _insert_ignoring_replays(dialect: str):
    """INSERT that skips a row whose call_id is already there (a spool replayed after a crash)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(ToolCallLog).on_conflict_do_nothing(index_elements=["call_id"])
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(ToolCallLog).on_conflict_do_nothing(index_elements=["call_id"])
    return insert(ToolCallLog)
