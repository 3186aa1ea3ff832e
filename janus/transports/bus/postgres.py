"""The bus for replicas sharing PostgreSQL: LISTEN/NOTIFY on one channel.

Each process keeps one dedicated autocommit connection listening on `janus_bus`
and waits on its socket with select(), so an idle process costs the database
nothing. Every listener sees every notification and keeps those addressed to its
node. Publishing uses other, pooled connections: the listener's connection is
never shared, so a slow publish cannot delay delivery.

NOTIFY payloads must stay under 8000 bytes, so a larger message travels as ordered
chunks sent in one transaction (PostgreSQL delivers a transaction's notifications
together and in order) and is reassembled by the receiver. PostgreSQL cannot tell
the sender whether anyone received a notification: publish returns True once the
transaction commits. Notifications sent while a listener is reconnecting are lost.
Whether a process is alive is PostgreSQL's to say instead: its listening session is
named after its node (`node_alive`).
"""

from __future__ import annotations

import json
import logging
import os
import select
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg2
from psycopg2.extras import execute_batch

from janus.transports.bus.mailbox import TOPIC_PREFIX, Mailbox, Mailboxes, TopicHandler

log = logging.getLogger(__name__)

CHANNEL = "janus_bus"
EVERYONE = "*"  # a broadcast's address: `*<sender node>`, kept by every listener but the sender's
# The listening session's application_name: a node is alive exactly while PostgreSQL has that session
# (a process that dies, even by SIGKILL, takes its connection and so its session with it).
APPLICATION_NAME_PREFIX = "janus-bus:"
ALIVE_RECHECK_SECONDS = 1.0  # a node seen without its session is asked again once after this (a reconnect)
ALIVE_CACHE_SECONDS = 2.0  # a node found alive is not asked about again for this long (one query per POST otherwise)
PAYLOAD_LIMIT = 7999  # bytes; PostgreSQL rejects a payload of 8000 or more
CHUNK_BYTES = 7000  # message bytes per notification; the header fits in the rest
MAX_KEY_BYTES = 512
BATCH_PAGE = 64  # chunk statements per round trip
POOL_IDLE = 4  # idle publishing connections kept per process
PENDING_TTL = 60.0  # seconds an incomplete chunked message is kept (its rest was lost in a reconnect)
RECONNECT_DELAYS = (0.1, 5.0)  # first and longest wait between listener reconnect attempts
# Without keepalives a silently dropped connection (a replica's network, a failover) leaves the
# listener waiting forever on a socket that will never be readable.
CONNECT_OPTIONS: dict[str, Any] = {  # libpq parameters, passed through psycopg2.connect(**...)
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}
_CONNECTION_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError)


def dsn_from_uri(uri: str) -> str:
    """A libpq URI from a SQLAlchemy one: drop the driver name, keep everything else (query options too)."""
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme.split("+", 1)[0].lower() not in {"postgresql", "postgres"}:
        raise ValueError("not a PostgreSQL URI")
    return "postgresql://" + rest


def encode_payloads(node: str, key: str, message: str, chunk_bytes: int = CHUNK_BYTES) -> list[str]:
    """The NOTIFY payloads for one message: `node \\n [key, id, index, count] \\n chunk`.

    The node comes first so every other listener discards the payload with a prefix
    check. The message id also keeps two identical messages in one transaction
    distinct (PostgreSQL folds identical notifications of a transaction into one).
    """
    if "\x00" in message or "\x00" in key:
        raise ValueError("PostgreSQL notifications cannot carry NUL characters")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise ValueError(f"bus key longer than {MAX_KEY_BYTES} bytes")
    chunks = split_utf8(message.encode("utf-8"), chunk_bytes)
    message_id = uuid.uuid4().hex
    payloads = [
        f"{node}\n{json.dumps([key, message_id, index, len(chunks)])}\n{chunk}" for index, chunk in enumerate(chunks)
    ]
    assert all(len(p.encode("utf-8")) <= PAYLOAD_LIMIT for p in payloads), "bus header too large for NOTIFY"
    return payloads


def split_utf8(data: bytes, size: int) -> list[str]:
    """Cut UTF-8 bytes into strings of at most `size` bytes, never inside a character."""
    chunks = []
    start = 0
    while start < len(data):
        end = min(start + size, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # a continuation byte: back up to the lead byte
            end -= 1
        chunks.append(data[start:end].decode("utf-8"))
        start = end
    return chunks or [""]


@dataclass
class _Partial:
    key: str
    count: int
    started: float = field(default_factory=time.monotonic)
    parts: list[str] = field(default_factory=list)


class PostgresBus:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.node = uuid.uuid4().hex
        self.listener_backend_pid: int | None = None  # the listening session, for operators and tests
        self._pid = os.getpid()
        self._mailboxes = Mailboxes()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._stopped = threading.Event()
        self._wake_r = self._wake_w = -1
        self._pending: dict[str, _Partial] = {}  # listener thread only
        self._idle: list = []  # pooled publishing connections
        self._pool_lock = threading.Lock()
        self._alive_until: dict[str, float] = {}  # node -> until when it counts as alive without asking

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._closing:
                raise RuntimeError("the bus is closed")
            if self._thread is not None:
                return
            if os.getpid() != self._pid:
                raise RuntimeError("create the bus in the process that uses it (after fork)")
            # Listening before start() returns: a session stored with our node right after
            # must not lose its first message to a listener that is still connecting.
            conn = self._listen()
            # select() also watches this pipe, so close() can wake the listener without a timeout loop.
            self._wake_r, self._wake_w = os.pipe()
            os.set_blocking(self._wake_w, False)
            self._thread = threading.Thread(target=self._run, args=(conn,), name="janus-bus-pg", daemon=True)
            self._thread.start()

    def close(self) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
            thread = self._thread
        self._stopped.set()
        self._mailboxes.close_all()
        if thread is not None:
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass
            if thread is not threading.current_thread():
                thread.join(timeout=10)
            for fd in (self._wake_r, self._wake_w):
                os.close(fd)
        with self._pool_lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            _close_quietly(conn)

    # -- mailboxes -------------------------------------------------------------------------

    def subscribe(self, key: str, *, max_bytes: int = 0, on_overflow=None) -> Mailbox:
        return self._mailboxes.subscribe(key, max_bytes=max_bytes, on_overflow=on_overflow)

    def unsubscribe(self, key: str) -> None:
        self._mailboxes.unsubscribe(key)

    def on_topic(self, topic: str, handler: TopicHandler) -> None:
        self._mailboxes.on_topic(topic, handler)

    # -- sending ---------------------------------------------------------------------------

    def broadcast(self, topic: str, message: str) -> None:
        key = TOPIC_PREFIX + topic
        self._mailboxes.deliver(key, message)  # here at once; the listener skips our own broadcast
        try:
            self._notify(encode_payloads(EVERYONE + self.node, key, message))
        except psycopg2.Error:
            log.exception("bus could not broadcast on %s", topic)

    def publish(self, node: str, key: str, message: str) -> bool:
        if node == self.node:
            return self._mailboxes.deliver(key, message)
        payloads = encode_payloads(node, key, message)
        try:
            self._notify(payloads)
        except psycopg2.Error:
            log.exception("bus could not publish to node %s", node)
            return False
        return True

    def _notify(self, payloads: list[str]) -> None:
        for attempt in range(2):
            conn, reused = self._take()
            try:
                with conn.cursor() as cur:
                    # All chunks in one transaction: delivered together, in order, or not at all.
                    execute_batch(
                        cur, "SELECT pg_notify(%s, %s)", [(CHANNEL, p) for p in payloads], page_size=BATCH_PAGE
                    )
                conn.commit()
            except _CONNECTION_ERRORS:
                _close_quietly(conn)
                if reused and attempt == 0:
                    # The server may have closed an idle pooled connection; one retry on a fresh one.
                    log.warning("bus: a pooled PostgreSQL connection was broken; retrying on a new one")
                    continue
                raise
            except BaseException:
                _close_quietly(conn)
                raise
            self._give(conn)
            return

    def node_alive(self, node: str) -> bool:
        """Whether process `node` is running: its listening session exists in PostgreSQL.

        A node missing once is asked again after ALIVE_RECHECK_SECONDS: its listener may be reconnecting
        after a network blip, and calling it dead would end every session whose stream it holds. When the
        question cannot be asked (the database is unreachable) the node counts as alive.
        """
        if node == self.node or self._alive_until.get(node, 0.0) > time.monotonic():
            return True
        for attempt in range(2):
            if attempt:
                self._stopped.wait(ALIVE_RECHECK_SECONDS)
            try:
                if self._has_listener(node):
                    if len(self._alive_until) > 1024:  # nodes come and go with restarts: forget them all
                        self._alive_until.clear()
                    self._alive_until[node] = time.monotonic() + ALIVE_CACHE_SECONDS
                    return True
            except psycopg2.Error:
                log.warning("bus: could not check whether node %s is alive; assuming it is", node, exc_info=True)
                return True
        return False

    def _has_listener(self, node: str) -> bool:
        conn, _ = self._take()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = %s)",
                    (APPLICATION_NAME_PREFIX + node,),
                )
                (alive,) = cur.fetchone()
            conn.rollback()  # end the read-only transaction; the connection goes back to the pool clean
        except BaseException:
            _close_quietly(conn)
            raise
        self._give(conn)
        return bool(alive)

    def _take(self):
        if os.getpid() != self._pid:
            # A connection inherited across fork shares its socket with the parent: never use it.
            raise RuntimeError("create the bus in the process that uses it (after fork)")
        with self._pool_lock:
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed:
                    return conn, True
        return psycopg2.connect(self.dsn, **CONNECT_OPTIONS), False

    def _give(self, conn) -> None:
        with self._pool_lock:
            if not self._closing and len(self._idle) < POOL_IDLE:
                self._idle.append(conn)
                return
        _close_quietly(conn)

    # -- receiving -------------------------------------------------------------------------

    def _listen(self):
        conn = psycopg2.connect(self.dsn, application_name=APPLICATION_NAME_PREFIX + self.node, **CONNECT_OPTIONS)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f"LISTEN {CHANNEL}")
            self.listener_backend_pid = conn.get_backend_pid()
        except BaseException:
            _close_quietly(conn)
            raise
        return conn

    def _run(self, conn) -> None:
        delay = RECONNECT_DELAYS[0]
        while not self._stopped.is_set():
            if conn is None:
                try:
                    conn = self._listen()
                except Exception:
                    log.exception("bus listener could not reconnect to PostgreSQL; retrying in %.1fs", delay)
                    self._stopped.wait(delay)
                    delay = min(delay * 2, RECONNECT_DELAYS[1])
                    continue
                log.warning("bus listener reconnected to PostgreSQL; messages sent while it was away are lost")
                delay = RECONNECT_DELAYS[0]
            try:
                self._receive(conn)
            except Exception:
                if self._stopped.is_set():
                    break
                log.exception("bus listener lost its PostgreSQL connection; reconnecting")
                _close_quietly(conn)
                conn = None
                self._pending.clear()  # the rest of those messages will never come
        if conn is not None:
            _close_quietly(conn)

    def _receive(self, conn) -> None:
        # Notifications can already sit in conn.notifies (read along with LISTEN's reply).
        self._drain(conn)
        readable, _, _ = select.select([conn, self._wake_r], [], [])
        if self._wake_r in readable:
            return  # close() woke us; the loop sees the stop flag
        conn.poll()
        self._drain(conn)

    def _drain(self, conn) -> None:
        prefix = self.node + "\n"
        own_broadcast = EVERYONE + prefix
        while conn.notifies:
            notify = conn.notifies.pop(0)
            if notify.channel != CHANNEL:
                continue
            payload = notify.payload
            if payload.startswith(prefix):
                self._accept(payload[len(prefix) :])
            elif payload.startswith(EVERYONE) and not payload.startswith(own_broadcast):
                self._accept(payload.split("\n", 1)[1] if "\n" in payload else "")

    def _accept(self, rest: str) -> None:
        try:
            head, chunk = rest.split("\n", 1)
            key, message_id, index, count = json.loads(head)
        except (ValueError, TypeError):
            log.warning("bus: ignored a malformed notification addressed to this node")
            return
        if count == 1:
            self._mailboxes.deliver(key, chunk)
            return
        partial = self._pending.get(message_id)
        if partial is None:
            if index != 0:
                log.warning("bus: chunk %d of message %s arrived without its start; dropped", index, message_id)
                return
            self._prune_pending()
            partial = self._pending[message_id] = _Partial(key, count)
        if index != len(partial.parts):
            log.warning(
                "bus: message %s lost chunks (got %d, expected %d); dropped", message_id, index, len(partial.parts)
            )
            del self._pending[message_id]
            return
        partial.parts.append(chunk)
        if len(partial.parts) == partial.count:
            del self._pending[message_id]
            self._mailboxes.deliver(partial.key, "".join(partial.parts))

    def _prune_pending(self) -> None:
        cutoff = time.monotonic() - PENDING_TTL
        for message_id in [m for m, p in self._pending.items() if p.started < cutoff]:
            log.warning("bus: message %s never completed; dropped", message_id)
            del self._pending[message_id]


def _close_quietly(conn) -> None:
    try:
        conn.close()
    except Exception:  # already broken; nothing left to release
        log.debug("closing a broken PostgreSQL connection failed", exc_info=True)
