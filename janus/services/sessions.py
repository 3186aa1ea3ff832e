"""MCP HTTP sessions in the database, with a very short in-process cache.

Any worker or replica may serve a session's next request, so the record is
the source of truth. A busy session would otherwise cost a query on every
request (~10% of a tools/call's CPU under load), so lookups are cached for
SESSION_CACHE_SECONDS: a session ended here (DELETE, a closed SSE stream) is
forgotten at once, and on every other worker within that window.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession

from janus.models import McpSession
from janus.services.errors import DatabaseUnavailable, database_unavailable

LAST_SEEN_EVERY = timedelta(minutes=5)
SESSION_CACHE_SECONDS = 0.25  # how stale last_seen_at may get before a write


@dataclass(frozen=True)
class SessionRecord:
    id: str
    transport: str
    token_hash: str
    protocol_version: str | None = None
    client_info: dict[str, Any] | None = None
    client_capabilities: dict[str, Any] | None = None
    initialized: bool = False
    owner_node: str | None = None
    last_seen_at: datetime | None = None


def new_session_id() -> str:
    # 256 bits from the OS CSPRNG, URL-safe base64: visible ASCII as the spec requires.
    return secrets.token_urlsafe(32)


class SessionStore:
    def __init__(self, engine: Engine, idle_timeout: timedelta = timedelta(hours=24)) -> None:
        self._engine = engine
        self._idle_timeout = idle_timeout
        self._cache: dict[str, tuple[float, SessionRecord]] = {}
        self._cache_lock = threading.Lock()
        t = McpSession.__table__.c
        self._get_statement = select(
            t.id,
            t.transport,
            t.token_hash,
            t.protocol_version,
            t.client_info,
            t.client_capabilities,
            t.initialized,
            t.owner_node,
            t.last_seen_at,
        ).where(t.id == bindparam("id"), t.ended_at.is_(None))

    def create(
        self,
        transport: str,
        token_hash: str,
        *,
        owner_node: str | None = None,
        protocol_version: str | None = None,
        client_info: dict | None = None,
        client_capabilities: dict | None = None,
        session_id: str | None = None,
    ) -> SessionRecord:
        """`session_id`: one the caller drew with new_session_id() (legacy SSE subscribes its mailbox first)."""
        now = datetime.now(UTC)
        record = SessionRecord(
            id=session_id or new_session_id(),
            transport=transport,
            token_hash=token_hash,
            protocol_version=protocol_version,
            client_info=client_info,
            client_capabilities=client_capabilities,
            owner_node=owner_node,
            last_seen_at=now,
        )
        with OrmSession(self._engine) as orm, orm.begin():
            orm.add(
                McpSession(
                    id=record.id,
                    transport=transport,
                    token_hash=token_hash,
                    protocol_version=protocol_version,
                    client_info=client_info,
                    client_capabilities=client_capabilities,
                    owner_node=owner_node,
                    initialized=False,
                    created_at=now,
                    last_seen_at=now,
                )
            )
        return record

    def get(self, session_id: str) -> SessionRecord | None:
        """The live session, or None when unknown, ended or idle too long.

        While the database is away or locked, a session this process has seen is served from the cache
        however old the entry (its calls need no SQL); an unknown one raises DatabaseUnavailable (503).
        """
        cached = self._cache.get(session_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            # The statement is compiled once (SQLAlchemy's cache); rows are plain tuples, no ORM.
            with self._engine.connect() as conn:
                row = conn.execute(self._get_statement, {"id": session_id}).first()
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            if cached is not None:
                return cached[1]
            raise DatabaseUnavailable() from exc
        if row is None:
            self._forget(session_id)
            return None
        record = SessionRecord(
            id=row[0],
            transport=row[1],
            token_hash=row[2],
            protocol_version=row[3],
            client_info=row[4],
            client_capabilities=row[5],
            initialized=bool(row[6]),
            owner_node=row[7],
            last_seen_at=_aware(row[8]),
        )
        if record.last_seen_at and datetime.now(UTC) - record.last_seen_at > self._idle_timeout:
            self.end(session_id)
            return None
        self._touch(record)
        self._remember(record)
        return record

    def live_ids(self, session_ids: Iterable[str]) -> set[str]:
        """Which of these sessions are live; one query, and an open stream counts as activity."""
        ids = list(session_ids)
        if not ids:
            return set()
        t = McpSession.__table__.c
        now = datetime.now(UTC)
        with self._engine.begin() as conn:
            live = set(conn.scalars(select(t.id).where(t.id.in_(ids), t.ended_at.is_(None))))
            if live:
                conn.execute(
                    update(McpSession)
                    .where(McpSession.id.in_(live), McpSession.last_seen_at < now - LAST_SEEN_EVERY)
                    .values(last_seen_at=now)
                )
        for session_id in set(ids) - live:
            self._forget(session_id)
        return live

    def open_sessions(self, transport: str, token_hash: str) -> list[tuple[str, str | None]]:
        """(id, owner_node) of a token's live sessions of one transport, on every worker and replica.

        For per-token caps (SSE_MAX_STREAMS_PER_TOKEN): called when a stream opens, never per message.
        """
        t = McpSession.__table__.c
        cutoff = datetime.now(UTC) - self._idle_timeout
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(t.id, t.owner_node).where(
                    t.transport == transport, t.token_hash == token_hash, t.ended_at.is_(None), t.last_seen_at >= cutoff
                )
            )
            return [(row[0], row[1]) for row in rows]

    def update(self, record: SessionRecord, **fields: Any) -> SessionRecord:
        with self._engine.begin() as conn:
            conn.execute(update(McpSession).where(McpSession.id == record.id).values(**fields))
        record = replace(record, **fields)
        self._remember(record)
        return record

    def end(self, session_id: str) -> bool:
        """End a session; True when it was live."""
        self._forget(session_id)
        with self._engine.begin() as conn:
            result = conn.execute(
                update(McpSession)
                .where(McpSession.id == session_id, McpSession.ended_at.is_(None))
                .values(ended_at=datetime.now(UTC))
            )
        return result.rowcount > 0

    def _remember(self, record: SessionRecord) -> None:
        with self._cache_lock:
            if len(self._cache) > 10_000:  # bounded: old entries are cheap to reload
                self._cache.clear()
            # Expired entries stay (until this bound): they answer for their session while the database is away.
            self._cache[record.id] = (time.monotonic() + SESSION_CACHE_SECONDS, record)

    def _forget(self, session_id: str) -> None:
        with self._cache_lock:
            self._cache.pop(session_id, None)

    def purge(self, older_than: timedelta = timedelta(days=7)) -> int:
        """Delete ended or long-idle sessions (housekeeping)."""
        cutoff = datetime.now(UTC) - older_than
        with self._engine.begin() as conn:
            result = conn.execute(
                delete(McpSession).where(
                    (McpSession.ended_at.is_not(None) & (McpSession.ended_at < cutoff))
                    | (McpSession.last_seen_at < cutoff)
                )
            )
        return result.rowcount

    def _touch(self, record: SessionRecord) -> None:
        now = datetime.now(UTC)
        if record.last_seen_at is None or now - record.last_seen_at > LAST_SEEN_EVERY:
            try:
                self.update(record, last_seen_at=now)
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                # Activity bookkeeping only: the next request past LAST_SEEN_EVERY tries again.
                self._remember(record)


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
