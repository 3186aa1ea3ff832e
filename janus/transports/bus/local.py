"""The bus for one machine: each process listens on a Unix socket in a private shared directory.

A publish connects to the owner's socket file, sends one frame and reads a one-byte
ack, so the sender learns at once whether the stream still exists: a missing file
or a refused connection means the owner died, ack 0 means the stream has ended.
Nothing polls: an idle process sits in accept().
"""

from __future__ import annotations

import atexit
import errno
import hashlib
import logging
import os
import re
import secrets
import socket
import stat
import struct
import sys
import tempfile
import threading
from typing import Literal, overload

from janus.transports.bus.mailbox import TOPIC_PREFIX, Mailbox, Mailboxes, TopicHandler

log = logging.getLogger(__name__)

FRAME_HEADER = struct.Struct("!II")  # key length, message length (bytes, UTF-8)
ACK_DELIVERED = b"\x01"
ACK_NO_MAILBOX = b"\x00"
MAX_KEY_BYTES = 1024
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # a sanity bound against a garbled length, far above any real response
IO_TIMEOUT = 10.0  # a peer stuck mid-frame must not hold a handler or a publisher forever
BACKLOG = 128
# sun_path holds 108 bytes on Linux, 104 on macOS and the BSDs, including the terminating NUL.
SUN_PATH_MAX = (108 if sys.platform.startswith("linux") else 104) - 1
_SOCKET_NAME = re.compile(r"(\d+)-[0-9a-f]+\.sock")


def default_runtime_dir(database_uri: str) -> str:
    """One directory per database: processes serving the same database find each other there."""
    digest = hashlib.sha256(database_uri.encode("utf-8")).hexdigest()[:12]
    return os.path.join(tempfile.gettempdir(), f"janus-bus-{digest}")


class LocalSocketBus:
    def __init__(self, database_uri: str = "", *, runtime_dir: str | None = None) -> None:
        self.runtime_dir = os.path.abspath(runtime_dir or default_runtime_dir(database_uri))
        self._pid = os.getpid()
        self.node = os.path.join(self.runtime_dir, f"{self._pid}-{secrets.token_hex(4)}.sock")
        if len(os.fsencode(self.node)) > SUN_PATH_MAX:
            raise ValueError(
                f"bus runtime directory {self.runtime_dir!r} is too long for a Unix socket path "
                f"({SUN_PATH_MAX} bytes at most with the socket name); choose a shorter one"
            )
        self._mailboxes = Mailboxes()
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._inode: int | None = None
        self._closing = False
        self._stopped = threading.Event()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._closing:
                raise RuntimeError("the bus is closed")
            if self._server is not None:
                return
            if os.getpid() != self._pid:
                # Started in the parent, every forked worker would share (and fight over) one address.
                raise RuntimeError("create the bus in the process that uses it (after fork)")
            _ensure_private_dir(self.runtime_dir)
            sweep_stale_sockets(self.runtime_dir)
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                server.bind(self.node)
                server.listen(BACKLOG)
                self._inode = os.stat(self.node).st_ino
            except OSError:
                server.close()
                raise
            self._server = server
            atexit.register(self._remove_socket_file)
            self._thread = threading.Thread(target=self._serve, name="janus-bus-local", daemon=True)
            self._thread.start()
        log.debug("bus listening on %s", self.node)

    def close(self) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
            server, thread = self._server, self._thread
        self._stopped.set()
        self._mailboxes.close_all()
        if server is not None:
            self._wake_accept(server)
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=IO_TIMEOUT)
            server.close()
            self._remove_socket_file()
            atexit.unregister(self._remove_socket_file)

    def _wake_accept(self, server: socket.socket) -> None:
        # Closing a socket does not wake a thread blocked in accept(); a connection does.
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(1.0)
                probe.connect(self.node)
        except OSError:
            try:
                server.shutdown(socket.SHUT_RDWR)  # Linux wakes accept() with EINVAL
            except OSError:
                pass

    def _remove_socket_file(self) -> None:
        # Only our own file, from our own process: a forked child inherits this atexit hook, and the
        # inode check keeps a later process's socket at a reused path safe.
        if self._inode is None or os.getpid() != self._pid:
            return
        try:
            if os.lstat(self.node).st_ino == self._inode:
                os.unlink(self.node)
        except FileNotFoundError:
            pass
        except OSError:
            log.exception("could not remove bus socket %s", self.node)

    # -- mailboxes -------------------------------------------------------------------------

    def subscribe(self, key: str, *, max_bytes: int = 0, on_overflow=None) -> Mailbox:
        return self._mailboxes.subscribe(key, max_bytes=max_bytes, on_overflow=on_overflow)

    def unsubscribe(self, key: str) -> None:
        self._mailboxes.unsubscribe(key)

    def on_topic(self, topic: str, handler: TopicHandler) -> None:
        self._mailboxes.on_topic(topic, handler)

    # -- sending ---------------------------------------------------------------------------

    def broadcast(self, topic: str, message: str) -> None:
        """To every live process's socket in the shared directory, this one first (no socket round trip)."""
        key = TOPIC_PREFIX + topic
        self._mailboxes.deliver(key, message)
        try:
            names = os.listdir(self.runtime_dir)
        except FileNotFoundError:
            return
        for name in sorted(names):
            node = os.path.join(self.runtime_dir, name)
            if node != self.node and _SOCKET_NAME.fullmatch(name) is not None:
                self.publish(node, key, message)  # a dead peer's file: refused at once, logged nowhere

    def publish(self, node: str, key: str, message: str) -> bool:
        if node == self.node:
            return self._mailboxes.deliver(key, message)
        if not self._is_peer(node):
            # The address comes from the database; never connect to an arbitrary socket on its say-so.
            log.warning("not publishing to %r: not a bus socket in %s", node, self.runtime_dir)
            return False
        key_bytes = key.encode("utf-8")
        data = message.encode("utf-8")
        if len(key_bytes) > MAX_KEY_BYTES or len(data) > MAX_MESSAGE_BYTES:
            raise ValueError(f"bus frame too large: key {len(key_bytes)} bytes, message {len(data)} bytes")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(IO_TIMEOUT)
        try:
            sock.connect(node)
            sock.sendall(FRAME_HEADER.pack(len(key_bytes), len(data)) + key_bytes)
            sock.sendall(data)
            ack = _recv_exact(sock, 1)
        except (FileNotFoundError, ConnectionRefusedError):
            return False  # the owner is gone (crashed or closed); its streams went with it
        except ConnectionError as exc:
            # Reset or closed before the ack: the owner is shutting down, and its streams with it.
            log.warning("bus delivery to %s failed: %s", node, exc)
            return False
        except OSError:
            log.exception("bus delivery to %s failed", node)
            return False
        finally:
            sock.close()
        return ack == ACK_DELIVERED

    def node_alive(self, node: str) -> bool:
        """Whether process `node` is running: something accepts on its socket."""
        return node == self.node or (self._is_peer(node) and _accepts(node))

    def _is_peer(self, node: str) -> bool:
        directory, name = os.path.split(node)
        return directory == self.runtime_dir and _SOCKET_NAME.fullmatch(name) is not None

    # -- receiving -------------------------------------------------------------------------

    def _serve(self) -> None:
        server = self._server
        assert server is not None
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                if self._closing:
                    return
                log.exception("bus listener on %s: accept failed", self.node)
                self._stopped.wait(0.1)  # e.g. out of file descriptors: back off instead of spinning
                continue
            if self._closing:
                conn.close()
                return
            # One handler per connection, so a slow or stuck sender delays nobody else.
            try:
                threading.Thread(target=self._handle, args=(conn,), name="janus-bus-conn", daemon=True).start()
            except RuntimeError:  # cannot start a thread: refuse this one, keep listening
                log.exception("bus listener on %s: could not start a handler", self.node)
                conn.close()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(IO_TIMEOUT)
            try:
                # Several frames may share a connection; a publisher closes after its ack today.
                while True:
                    header = _recv_exact(conn, FRAME_HEADER.size, eof_ok=True)
                    if header is None:
                        return
                    key_len, msg_len = FRAME_HEADER.unpack(header)
                    if key_len > MAX_KEY_BYTES or msg_len > MAX_MESSAGE_BYTES:
                        log.warning("bus on %s: rejected a frame of %d+%d bytes", self.node, key_len, msg_len)
                        return
                    body = _recv_exact(conn, key_len + msg_len)
                    key = body[:key_len].decode("utf-8")
                    message = body[key_len:].decode("utf-8")
                    delivered = self._mailboxes.deliver(key, message)
                    conn.sendall(ACK_DELIVERED if delivered else ACK_NO_MAILBOX)
            except (OSError, UnicodeDecodeError):
                if not self._closing:
                    log.exception("bus on %s: bad or broken frame from a peer", self.node)


@overload
def _recv_exact(sock: socket.socket, size: int, eof_ok: Literal[False] = False) -> bytes: ...
@overload
def _recv_exact(sock: socket.socket, size: int, eof_ok: bool) -> bytes | None: ...
def _recv_exact(sock: socket.socket, size: int, eof_ok: bool = False) -> bytes | None:
    buffer = bytearray(size)
    view = memoryview(buffer)
    received = 0
    while received < size:
        count = sock.recv_into(view[received:])
        if count == 0:
            if eof_ok and received == 0:
                return None
            raise ConnectionError(errno.ECONNRESET, "bus peer closed the connection mid-frame")
        received += count
    return bytes(buffer)


def _ensure_private_dir(path: str) -> None:
    """Create the shared directory 0700, and refuse one that another user could write to or own."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise RuntimeError(f"bus runtime path {path} exists and is not a directory")
    if info.st_uid != os.geteuid():
        raise RuntimeError(f"bus runtime directory {path} belongs to another user")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)


def sweep_stale_sockets(directory: str) -> int:
    """Remove socket files left by crashed processes; returns how many were removed.

    A file counts as stale only when its process is gone AND nothing accepts on it,
    so a live process in another PID namespace sharing the directory is never touched.
    """
    removed = 0
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return 0
    for name in names:
        match = _SOCKET_NAME.fullmatch(name)
        if match is None or int(match.group(1)) == os.getpid() or _pid_alive(int(match.group(1))):
            continue
        path = os.path.join(directory, name)
        if _accepts(path):
            continue
        try:
            os.unlink(path)
            removed += 1
            log.info("removed stale bus socket %s", path)
        except FileNotFoundError:
            pass
        except OSError:
            log.exception("could not remove stale bus socket %s", path)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _accepts(path: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            probe.connect(path)
        return True
    except OSError:
        return False
