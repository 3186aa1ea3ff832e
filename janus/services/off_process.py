"""CPU-heavy work done in a short-lived child process, so a gevent worker's tool calls do not wait for it.

A thread (janus.services.off_loop) keeps the loop turning but shares the interpreter's lock with it: while
GitHub's 13 MB description was read and converted in one, the importing worker's concurrent calls had a p99
3-6x their p99 at rest, and applying it on the loop stalled them in 20 ms slices. A child process shares
nothing: the worker's loop keeps its interpreter to itself, and the child runs at a lower CPU priority, so on a
busy host the calls come first and the import takes a little longer. Its memory (a large description takes a
few hundred MB while it is read) is returned when it exits. It costs about a second to start (Python, Flask,
SQLAlchemy): only for work that takes seconds anyway.

`in_child(fn, *args, app_config=...)` pickles a module-level function by name with its arguments, runs it in
`python -m janus.child_process` (in an app built from the worker's environment, with `app_config` on top,
when given), and returns its result or raises what it raised (a ServiceError keeps its status, message and
field). Its log lines and any traceback go to the worker's stderr.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import select
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from janus.services.errors import ServiceError
from janus.services.off_loop import OffLoop

T = TypeVar("T")
log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 600.0  # seconds: work that takes longer is stopped (the child is killed) and refused
MAX_CHILDREN = 2  # per worker process at once: each may take a few hundred MB while it works
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # where `janus` is importable from
_slots: Any = None
_slots_pid = 0
# Unpickling the child's answer (a plan of 1,000+ operations) is milliseconds of CPU: in a thread, not on
# the loop.
_decode = OffLoop(1)


FAILED = "the child process doing this work failed; the gateway's log has the reason"


class ChildFailed(ServiceError):
    """The child process died, was killed or ran too long: nothing is known to be wrong with the request."""

    status = 503
    error = "child_process_failed"


def in_child(
    fn: Callable[..., T], *args: Any, app_config: dict[str, Any] | None = None, timeout: float = DEFAULT_TIMEOUT
) -> T:
    """fn(*args) in a new child process (in an app context when `app_config` is given): its result, or what it
    raised."""
    with _child_slot():
        out, returncode = _run(encode_job(fn, args, app_config), timeout)
    if returncode not in (0, None) or not out:
        log.error("%s in a child process exited with status %s", getattr(fn, "__qualname__", fn), returncode)
        raise ChildFailed(FAILED)
    try:
        ok, value = _decode(pickle.loads, out)  # trusted: the pipe from the child this process started
    except Exception:  # cut short (killed while writing, and reaped by someone else)
        log.exception("%s in a child process gave an unreadable answer", getattr(fn, "__qualname__", fn))
        raise ChildFailed(FAILED) from None
    if ok:
        return value
    raise value


def encode_job(
    fn: Callable[..., Any], args: tuple[Any, ...], app_config: dict[str, Any] | None
) -> list[bytes | memoryview]:
    """The job as the child reads it (decode_job): a pickle, then the large byte strings of its arguments
    out of band (pickle protocol 5), written from where they are. Pickling a 13 MB description in band
    copied it while the worker's loop waited (~15 ms)."""
    buffers: list[pickle.PickleBuffer] = []
    wrapped = tuple(pickle.PickleBuffer(a) if isinstance(a, bytes) and len(a) >= _OUT_OF_BAND else a for a in args)
    head = pickle.dumps((fn, wrapped, app_config), protocol=5, buffer_callback=buffers.append)
    frames: list[bytes | memoryview] = [struct.pack("!QI", len(head), len(buffers)), head]
    for buffer in buffers:
        raw = buffer.raw()
        frames += [struct.pack("!Q", raw.nbytes), raw]
    return frames


def decode_job(data: bytes) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any] | None]:
    view = memoryview(data)
    head_size, count = struct.unpack_from("!QI", view)
    at = struct.calcsize("!QI")
    head, at = view[at : at + head_size], at + head_size
    buffers = []
    for _ in range(count):
        (size,) = struct.unpack_from("!Q", view, at)
        at += 8
        buffers.append(view[at : at + size].tobytes())
        at += size
    # Trusted: the pipe from the worker that started this process (nothing else can write to it).
    job: tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any] | None] = pickle.loads(head, buffers=buffers)  # noqa: S301
    return job


_OUT_OF_BAND = 64 * 1024


def _child_slot() -> Any:
    """One of MAX_CHILDREN slots of this process (under gevent a cooperative semaphore: waiting yields)."""
    global _slots, _slots_pid
    if _slots is None or _slots_pid != os.getpid():
        # Made at first use, after gevent patched threading (a plain lock would block the whole loop).
        _slots, _slots_pid = threading.BoundedSemaphore(MAX_CHILDREN), os.getpid()
    return _slots


def _run(payload: list[bytes | memoryview], timeout: float) -> tuple[bytes, int | None]:
    """Start the child, hand it the payload, read its answer; (answer, exit status or None if unknown).

    Started with posix_spawn, not subprocess.Popen: gevent's Popen forks the worker from Python, which stopped
    its loop for ~20 ms for a worker of 450 MB (page tables, fork handlers), where posix_spawn (vfork and exec)
    takes under a millisecond whatever the worker's size. The pipes are then served with poll(), which
    gevent makes cooperative: the worker's calls run while the payload goes out and the answer comes in."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
    # gevent's blocking monitor, if the worker runs one, would report the child (which never yields) as blocked.
    env.pop("GEVENT_MONITOR_THREAD_ENABLE", None)
    # The child serves no /metrics: in the workers' multiprocess directory its gauges would outlive it, a file
    # per job, summed into every scrape.
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    to_child, child_stdin = os.pipe()  # (read end, write end): the child reads its job from the first
    child_stdout, from_child = os.pipe()
    fds = _Descriptors(to_child, child_stdin, child_stdout, from_child)
    try:
        pid = os.posix_spawn(
            sys.executable,
            [sys.executable, "-m", "janus.child_process"],
            env,
            file_actions=[(os.POSIX_SPAWN_DUP2, to_child, 0), (os.POSIX_SPAWN_DUP2, from_child, 1)],
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),  # as subprocess does: Python ignores them, the child need not
            setsigmask=(),
        )
        fds.close(to_child)
        fds.close(from_child)
        deadline = time.monotonic() + timeout
        try:
            out = _exchange(child_stdin, child_stdout, payload, deadline, fds.close)
            status = _wait(pid, deadline)
        except BaseException as exc:  # a timeout, or this greenlet killed: no child left running unheard
            _kill(pid)
            if isinstance(exc, TimeoutError):
                raise ChildFailed(f"the work took longer than {timeout:.0f} s and was stopped") from None
            raise
    finally:
        fds.close_all()
    return out, status


class _Descriptors:
    """The pipes' descriptors, each closed once. A descriptor closed twice is a bug that bites elsewhere:
    its number is reused at once (by SQLite opening the database for another greenlet, say), and the second
    close takes that file away from its owner — the workers' SQLite then failed with "disk I/O error"."""

    def __init__(self, *fds: int) -> None:
        self._open = set(fds)

    def close(self, fd: int) -> None:
        if fd in self._open:
            self._open.discard(fd)
            os.close(fd)

    def close_all(self) -> None:
        for fd in list(self._open):
            with contextlib.suppress(OSError):
                self.close(fd)


def _exchange(
    stdin: int, stdout: int, payload: list[bytes | memoryview], deadline: float, close: Callable[[int], None]
) -> bytes:
    """Write all of `payload` to the child (then close its stdin) and read its stdout to the end."""
    os.set_blocking(stdin, False)
    os.set_blocking(stdout, False)
    frames = [memoryview(f).cast("B") for f in payload if len(f)]
    view, sent, chunks = frames.pop(0), 0, list[bytes]()
    # poll, not select: a worker holding many streams has descriptors above select's 1,024.
    poller = select.poll()
    poller.register(stdout, select.POLLIN)
    poller.register(stdin, select.POLLOUT)
    writing = True
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        ready = dict(poller.poll(left * 1000))
        if writing and stdin in ready:
            try:
                sent += os.write(stdin, view[sent : sent + _PIPE_CHUNK])
            except BrokenPipeError:  # the child died before reading it all: its status says why
                sent, frames = len(view), []
            if sent >= len(view) and frames:
                view, sent = frames.pop(0), 0
            elif sent >= len(view):
                poller.unregister(stdin)
                close(stdin)  # the child reads to the end of its stdin
                writing = False
        if stdout in ready:
            chunk = os.read(stdout, _PIPE_CHUNK)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def _wait(pid: int, deadline: float) -> int | None:
    """The child's exit status, once it has closed its stdout (it is exiting); None if someone else reaped it."""
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # reaped by a SIGCHLD handler of the event loop: the answer is what counts
            return None
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            raise TimeoutError
        time.sleep(0.005)  # cooperative under gevent


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, ChildProcessError):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


_PIPE_CHUNK = 1024 * 1024
