"""janus.services.errors.unavailable_reason: what the log says of a database failure."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from janus.services.errors import unavailable_reason


def test_a_locked_sqlite_database_is_named_by_its_extended_code_not_its_message(tmp_path):
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        with pytest.raises(OperationalError) as failed, engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        engine.dispose()
    assert unavailable_reason(failed.value) == "OperationalError SQLITE_BUSY"
    assert str(path) not in unavailable_reason(failed.value)


def test_an_error_without_a_driver_code_is_named_by_its_class():
    assert unavailable_reason(TimeoutError("db.internal:5432 as admin")) == "TimeoutError"
