"""A change counter every process can poll cheaply.

Each process caches the tool catalog and token table in memory. Any ORM
change to a connection, endpoint or client token bumps the counter in the
same transaction, so other workers, stdio processes and replicas see the new
value on their next (throttled) poll and reload.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String, event, inspect, update
from sqlalchemy.orm import InstanceState, Mapped, Session, mapped_column

from janus.extensions import Model, db

CATALOG_COUNTER = "catalog"

# Columns whose changes do not alter what a caller may see or call.
_IGNORED_COLUMNS = {"last_used_at", "updated_at"}


class ChangeCounter(Model):
    __tablename__ = "change_counters"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


def _touches_catalog(session: Session) -> bool:
    from janus.models.catalog import Connection, Endpoint
    from janus.models.tokens import ClientToken

    tracked = (Connection, Endpoint, ClientToken)
    if any(isinstance(o, tracked) for o in (*session.new, *session.deleted)):
        return True
    for obj in session.dirty:
        if not isinstance(obj, tracked):
            continue
        state: InstanceState[Any] = inspect(obj)
        for attr in state.mapper.column_attrs:
            if attr.key not in _IGNORED_COLUMNS and state.attrs[attr.key].history.has_changes():
                return True
    return False


def _bump_on_flush(session: Session, flush_context, instances) -> None:
    if _touches_catalog(session):
        session.execute(
            update(ChangeCounter).where(ChangeCounter.name == CATALOG_COUNTER).values(value=ChangeCounter.value + 1)
        )


def track_catalog_changes() -> None:
    """Install the flush hook on Janus's session (db.session: every catalogue write goes through it),
    not on every SQLAlchemy Session in the process. Idempotent."""
    if not event.contains(db.session, "before_flush", _bump_on_flush):
        event.listen(db.session, "before_flush", _bump_on_flush)
