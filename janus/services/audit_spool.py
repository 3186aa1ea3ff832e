"""The audit spool: every tool-call record is on disk before its call is answered.

Each process appends its records, one JSON line each, to its own segment files under the spool
directory (AUDIT_SPOOL_DIR) with one small O_APPEND write; the audit writer reads them back, commits
them to the database, and then drops what is committed (truncating the segment, or deleting a sealed
one). There is no fsync per call: a SIGKILLed process loses nothing (its writes are in the kernel's
page cache); a power cut or kernel crash may lose the last seconds.

A process holds an exclusive flock on its own `<prefix>.lock` for as long as it lives. Any process
whose writer finds a lock file it can lock has found the spool of a dead process (a SIGKILLed
worker, a crashed replica on the same volume), and adopts it: replays its segments into the
database, then deletes them. Every record carries a call_id unique to it, and the insert skips ids
already present, so a replay after a crash between a commit and the truncation adds no duplicates.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)

PREFIX = "audit-"
SEGMENT_SUFFIX = ".jsonl"
LOCK_SUFFIX = ".lock"
# A segment that keeps receiving records while the writer catches up is sealed at this size and a new one
# begun, so a busy process's spool shrinks as it is committed instead of growing until a quiet moment.
MAX_SEGMENT_BYTES = 4 * 1024 * 1024
_READ_CHUNK = 1024 * 1024


def _open_private(path: Path, flags: int) -> int:
    return os.open(path, flags | os.O_CLOEXEC, 0o600)


@dataclass
class _Segment:
    path: Path
    read_fd: int
    offset: int = 0  # everything before it is committed
    sealed: bool = False  # no more appends: when read to its end and committed, it is deleted


@dataclass(frozen=True)
class Mark:
    """Where a read batch ended: committed, the spool may drop everything before it."""

    segment: _Segment
    offset: int


def parse_lines(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """The records in `data` and how many bytes they take; an incomplete last line is left for later.

    A line that is not JSON (a write cut short by a crash, then followed by others) is logged and skipped.
    """
    end = data.rfind(b"\n") + 1
    records: list[dict[str, Any]] = []
    for line in data[:end].splitlines():
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            log.error("skipped an unreadable audit spool line of %d bytes", len(line))
            continue
        if isinstance(record, dict):
            records.append(record)
    return records, end


class Spool:
    """This process's spool. `append` is the per-call path; everything else is the writer's."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.pid = os.getpid()
        self._nonce = secrets.token_hex(6)
        self.prefix = f"{PREFIX}{self.pid}-{self._nonce}"
        # Locked under a name no adopter looks at, then renamed: a lock file is never seen unlocked while
        # its process lives. Ours until this process ends (the kernel releases it even on SIGKILL).
        pending = self.directory / (self.prefix + ".new")
        self._lock_fd = _open_private(pending, os.O_RDWR | os.O_CREAT)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(pending, self.directory / (self.prefix + LOCK_SUFFIX))
        self._append_lock = threading.Lock()
        self._seq = 0
        self._segment_no = 0
        self._segments: list[_Segment] = []
        self._write_fd = -1
        self._write_size = 0
        self._begin_segment()

    def _begin_segment(self) -> None:
        path = self.directory / f"{self.prefix}-{self._segment_no:06d}{SEGMENT_SUFFIX}"
        self._segment_no += 1
        write_fd = _open_private(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        if self._write_fd >= 0:
            os.close(self._write_fd)
        self._write_fd = write_fd
        self._write_size = 0
        self._segments.append(_Segment(path, _open_private(path, os.O_RDONLY)))

    # -- the per-call path ---------------------------------------------------------

    def append(self, row: dict[str, Any]) -> None:
        """Give `row` its call_id and write it as one line; raises OSError (a full disk) to the caller."""
        with self._append_lock:
            self._seq += 1
            row["call_id"] = f"{self._nonce}-{self._seq:x}"
            line = orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE, default=str)
            os.write(self._write_fd, line)
            self._write_size += len(line)

    # -- the writer's side ---------------------------------------------------------

    def read(self, max_records: int) -> tuple[list[dict[str, Any]], Mark | None]:
        """Up to `max_records` records not yet committed, oldest first, and the mark to commit them by."""
        while True:
            segment = self._segments[0]
            data = os.pread(segment.read_fd, _READ_CHUNK, segment.offset)
            records, used = parse_lines(data)
            if len(records) > max_records:
                records = records[:max_records]
                used = _offset_after_lines(data, max_records)
            if used:
                return records, Mark(segment, segment.offset + used)
            if segment.sealed and len(self._segments) > 1 and not data:
                self._drop(segment)  # fully committed and never appended to again
                continue
            return [], None

    def commit(self, mark: Mark) -> None:
        """Everything up to `mark` is in the database: drop it from disk where that is cheap."""
        segment = mark.segment
        segment.offset = mark.offset
        if segment.sealed:
            if segment.offset >= os.fstat(segment.read_fd).st_size and len(self._segments) > 1:
                self._drop(segment)
            return
        with self._append_lock:  # no append may land between the size check and the truncation
            if segment.offset == self._write_size:
                os.ftruncate(self._write_fd, 0)  # O_APPEND: the next record goes to the new end, 0
                self._write_size = 0
                segment.offset = 0
            elif self._write_size > MAX_SEGMENT_BYTES:
                segment.sealed = True
                self._begin_segment()

    def _drop(self, segment: _Segment) -> None:
        self._segments.remove(segment)
        os.close(segment.read_fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(segment.path)

    def close(self, *, remove: bool) -> None:
        """Release the spool; `remove` (everything committed) deletes its files, else they await adoption."""
        with self._append_lock:
            for segment in list(self._segments):
                os.close(segment.read_fd)
                if remove:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(segment.path)
            self._segments.clear()
            if self._write_fd >= 0:
                os.close(self._write_fd)
                self._write_fd = -1
            if remove:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.directory / (self.prefix + LOCK_SUFFIX))
            os.close(self._lock_fd)  # unlocks: another process may adopt what is left


def _offset_after_lines(data: bytes, lines: int) -> int:
    """The offset just past the `lines`-th non-empty line of `data`."""
    position = 0
    seen = 0
    while seen < lines:
        end = data.index(b"\n", position) + 1
        if data[position:end].strip():
            seen += 1
        position = end
    return position


@dataclass
class Orphan:
    """The spool of a dead process, locked by us while we replay it."""

    prefix: str
    lock_path: Path
    lock_fd: int
    segments: list[Path] = field(default_factory=list)

    def records(self, batch: int) -> Iterator[tuple[Path, list[dict[str, Any]]]]:
        """Each segment's records in batches (a segment read whole: spools of dead processes are small)."""
        for path in self.segments:
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            records, _ = parse_lines(data if data.endswith(b"\n") else data + b"\n")
            for start in range(0, len(records), batch):
                yield path, records[start : start + batch]

    def finish(self) -> None:
        """Everything replayed: delete the files, then let go of the lock."""
        for path in self.segments:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        with contextlib.suppress(FileNotFoundError):
            self.lock_path.unlink()
        os.close(self.lock_fd)

    def release(self) -> None:
        os.close(self.lock_fd)


def find_orphans(directory: str | os.PathLike[str], own_prefix: str | None) -> list[Orphan]:
    """Spools in `directory` whose owner is gone (their lock is free), each now locked by us."""
    found: list[Orphan] = []
    base = Path(directory)
    try:
        names = sorted(os.listdir(base))
    except FileNotFoundError:
        return found
    for name in names:
        if not (name.startswith(PREFIX) and name.endswith(LOCK_SUFFIX)):
            continue
        prefix = name[: -len(LOCK_SUFFIX)]
        if prefix == own_prefix:
            continue
        lock_path = base / name
        try:
            fd = _open_private(lock_path, os.O_RDWR)
        except FileNotFoundError:
            continue  # adopted and deleted by another process meanwhile
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)  # its process lives, or another is adopting it
            continue
        if not lock_path.exists():  # finished by another adopter between our open and our lock
            os.close(fd)
            continue
        segments = sorted(
            base / other for other in names if other.startswith(prefix + "-") and other.endswith(SEGMENT_SUFFIX)
        )
        found.append(Orphan(prefix, lock_path, fd, segments))
    return found
