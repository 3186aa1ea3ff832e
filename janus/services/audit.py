"""Tool-call audit rows, written off the request path in small batches.

A per-call INSERT+COMMIT would put a synchronous database write (and, on
SQLite, the file lock) inside every tool call. Instead calls enqueue a record
and one writer thread per process commits batches a few times a second;
`flush()` makes it synchronous where a process is about to exit.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time

from sqlalchemy import insert, update
from sqlalchemy.engine import Engine

from janus.gateway.tool_backend import CallRecord
from janus.models import ClientToken, ToolCallLog

log = logging.getLogger(__name__)

_STOP = object()


class AuditWriter:
    def __init__(self, engine: Engine, *, interval: float = 0.2, max_batch: int = 500, retries: int = 8) -> None:
        self._engine = engine
        self._interval = interval
        self._max_batch = max_batch
        self._retries = retries
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        self._closed = False

    def record(self, rec: CallRecord) -> None:
        with self._lock:
            self._pending += 1
            closed = self._closed
        if closed:  # a straggler after close(): write it now rather than lose it
            self._write([rec])
            return
        if self._pid != os.getpid():  # first record in this process (the writer never dies: see _run)
            self._ensure_thread()
        self._queue.put(rec)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything recorded so far is committed."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def close(self, timeout: float = 10.0) -> None:
        self.flush(timeout)
        with self._lock:
            self._closed = True
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def _ensure_thread(self) -> None:
        # A forked worker inherits the object but not the thread.
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                    self._pid = os.getpid()
                    self._thread = threading.Thread(target=self._run, name="janus-audit", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        # record() only starts a writer once per process, so this loop must outlive any error.
        while True:
            try:
                if self._run_once():
                    return
            except Exception:
                log.exception("audit writer error; continuing")

    def _run_once(self) -> bool:
        """Take one batch and write it; True when told to stop."""
        first = self._queue.get()
        if first is _STOP:
            return True
        batch = [first]
        # Let a batch gather, then take it all at once: one wake-up per batch instead of a
        # timed get per record (which cost the tool-call path a timer each under gevent).
        if self._queue.qsize() < self._max_batch:
            time.sleep(self._interval)
        stop = False
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                stop = True
                break
            batch.append(item)
        self._write(batch)
        return stop

    def _write(self, batch: list[CallRecord]) -> None:
        try:
            if self._insert_with_retries(batch):
                return
            # One bad row must not cost the others: fall back to row by row.
            failed = batch if len(batch) == 1 else [r for r in batch if not self._insert_with_retries([r], retries=1)]
            if failed:
                log.error("could not write %d tool-call audit rows", len(failed))
        finally:
            with self._idle:
                self._pending -= len(batch)
                self._idle.notify_all()

    def _insert_with_retries(self, batch: list[CallRecord], retries: int | None = None) -> bool:
        # vars(), not dataclasses.asdict: the fields are flat values and asdict deep-copies each one.
        rows = [dict(vars(r)) for r in batch]
        last_used: dict[str, object] = {}
        for row in rows:
            token_id = row.pop("token_id", None)
            if token_id:
                last_used[token_id] = row["created_at"]
        attempts = self._retries if retries is None else retries
        for attempt in range(attempts):
            try:
                with self._engine.begin() as conn:
                    conn.execute(insert(ToolCallLog), rows)
                    for token_id, ts in last_used.items():
                        # Core UPDATE: bypasses the ORM hook, so the catalog does not reload.
                        conn.execute(update(ClientToken).where(ClientToken.id == token_id).values(last_used_at=ts))
                return True
            except Exception:
                if attempt == attempts - 1:
                    log.warning("audit batch of %d rows failed", len(rows), exc_info=True)
                else:
                    # Ride out a short outage (a failover, a locked SQLite file): ~10 s in all.
                    time.sleep(min(2.0, 0.05 * (2**attempt)))
        return False
