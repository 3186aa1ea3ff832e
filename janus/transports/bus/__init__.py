"""A small message bus that carries a JSON-RPC response to the process holding its SSE stream.

The legacy HTTP+SSE transport keeps `GET /sse` open on one process while the
client's `POST /messages` may land on any worker or replica. The process that
handles the POST publishes the response to the stream's owner, addressed by the
`node` stored with the session and the session id as `key`.

Two carriers, chosen by the database URI (what the processes already share):

* SQLite, one machine: `LocalSocketBus` (local.py), a Unix socket per process.
* PostgreSQL, replicas: `PostgresBus` (postgres.py), LISTEN/NOTIFY.

Both deliver into the mailboxes of mailbox.py, which imports nothing of this package.

Besides mailboxes, a bus carries *topics*: `broadcast(topic, message)` reaches the
handler every process registered for that topic with `on_topic` (a client's
cancellation must reach the request wherever it runs; see janus.transports.cancellation).
Delivery is best effort, as for a mailbox.

A bus is per process: create and start it in the worker, after gunicorn forks.
Everything here works with plain threads and under gevent monkey-patching,
where the listener thread is a greenlet and `queue.Queue` waits cooperatively.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from janus.transports.bus.mailbox import TOPIC_PREFIX, Mailbox, Mailboxes, TopicHandler

__all__ = ["TOPIC_PREFIX", "Bus", "Mailbox", "Mailboxes", "TopicHandler", "create_bus", "database_kind"]


@runtime_checkable
class Bus(Protocol):
    node: str  # this process's address, stored with each session whose stream it holds

    def start(self) -> None:
        """Idempotent; starts the listener. Raises when the carrier cannot be reached now."""

    def subscribe(self, key: str, *, max_bytes: int = 0, on_overflow=None) -> Mailbox:
        """A new mailbox for `key`, replacing (and closing) an existing one; see Mailbox for the byte cap."""

    def unsubscribe(self, key: str) -> None: ...

    def on_topic(self, topic: str, handler: TopicHandler) -> None:
        """Receive what any process broadcasts on `topic`, this one included."""

    def broadcast(self, topic: str, message: str) -> None:
        """Deliver `message` to the `topic` handler of every process on this bus (this one synchronously)."""

    def node_alive(self, node: str) -> bool:
        """Whether the process at address `node` is still running (its streams may still exist)."""

    def publish(self, node: str, key: str, message: str) -> bool:
        """Deliver `message` to mailbox `key` of process `node`.

        False when it is known the node or key no longer exists, or delivery failed
        (logged); True when delivered or handed to a carrier that cannot confirm.
        """

    def close(self) -> None: ...


def database_kind(database_uri: str) -> str:
    return database_uri.split(":", 1)[0].split("+", 1)[0].lower()


def create_bus(database_uri: str, *, runtime_dir: str | None = None) -> Bus:
    """The bus that suits the shared database: SQLite → Unix sockets, PostgreSQL → LISTEN/NOTIFY."""
    kind = database_kind(database_uri)
    # Imported here: a SQLite deployment never loads psycopg2.
    if kind == "sqlite":
        from janus.transports.bus.local import LocalSocketBus

        return LocalSocketBus(database_uri, runtime_dir=runtime_dir)
    if kind in {"postgresql", "postgres"}:
        from janus.transports.bus.postgres import PostgresBus, dsn_from_uri

        return PostgresBus(dsn_from_uri(database_uri))
    raise ValueError(f"no message bus for database kind {kind!r}")
