"""A change counter every process can poll cheaply, and the log of what each change touched.

Each process caches the tool catalog and token table in memory. Any ORM
change to a connection, endpoint or client token bumps the counter in the
same transaction and writes one `catalog_changes` row per touched row under
the counter's new value, so other workers, stdio processes and replicas see
the new value on their next (throttled) poll and re-read only those rows
(janus.services.catalog_loader).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String, delete, event, insert, inspect, select, update
from sqlalchemy.orm import InstanceState, Mapped, Session, mapped_column

from janus.extensions import Model, db
from janus.models._types import new_uuid

CATALOG_COUNTER = "catalog"

# Columns whose changes do not alter what a caller may see or call.
_IGNORED_COLUMNS = {"last_used_at", "updated_at"}
# Changes kept in the log: a process further behind than this loads the whole catalogue instead.
CHANGES_KEPT = 5000


class ChangeCounter(Model):
    __tablename__ = "change_counters"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class CatalogChange(Model):
    """One connection, endpoint or client token (kind, row_id) a catalogue change touched; `seq` is the
    change counter's value after that change. The row itself is re-read: the log says only where to look."""

    __tablename__ = "catalog_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "connection", "endpoint" or "token"
    row_id: Mapped[str] = mapped_column(String(36))


def _touched(session: Session) -> set[tuple[str, str]]:
    """(kind, id) of every connection, endpoint and client token this flush inserts, deletes or changes."""
    from janus.models.catalog import Connection, Endpoint
    from janus.models.tokens import ClientToken

    kinds = ((Connection, "connection"), (Endpoint, "endpoint"), (ClientToken, "token"))
    touched: set[tuple[str, str]] = set()
    changed = [(obj, False) for obj in (*session.new, *session.deleted)] + [(obj, True) for obj in session.dirty]
    for obj, dirty in changed:
        kind = next((k for cls, k in kinds if isinstance(obj, cls)), None)
        if kind is None:
            continue
        if dirty:
            state: InstanceState[Any] = inspect(obj)
            if not any(
                attr.key not in _IGNORED_COLUMNS and state.attrs[attr.key].history.has_changes()
                for attr in state.mapper.column_attrs
            ):
                continue
        if obj.id is None:  # a new row: its id now rather than at INSERT, so the log can name it
            obj.id = new_uuid()
        touched.add((kind, obj.id))
    return touched


def _bump_on_flush(session: Session, flush_context, instances) -> None:
    touched = _touched(session)
    if not touched:
        return
    session.execute(
        update(ChangeCounter).where(ChangeCounter.name == CATALOG_COUNTER).values(value=ChangeCounter.value + 1)
    )
    # The counter row stays locked until commit, so no other change can take this value meanwhile.
    seq = session.scalar(select(ChangeCounter.value).where(ChangeCounter.name == CATALOG_COUNTER))
    if seq is None:
        return
    session.execute(insert(CatalogChange), [{"seq": seq, "kind": k, "row_id": i} for k, i in sorted(touched)])
    if seq % 100 == 0:  # pruned now and then, not at every change: one indexed range delete
        session.execute(delete(CatalogChange).where(CatalogChange.seq <= seq - CHANGES_KEPT))


def track_catalog_changes() -> None:
    """Install the flush hook on Janus's session (db.session: every catalogue write goes through it),
    not on every SQLAlchemy Session in the process. Idempotent."""
    if not event.contains(db.session, "before_flush", _bump_on_flush):
        event.listen(db.session, "before_flush", _bump_on_flush)
