"""The session store while the database is away: sessions it has seen go on, unknown ones are a clear 503."""

from __future__ import annotations

import time

import pytest

from janus.extensions import db
from janus.services.errors import DatabaseUnavailable
from janus.services.sessions import SESSION_CACHE_SECONDS, SessionStore


def test_a_cached_session_outlives_its_cache_window_while_the_database_is_away(sqlite_app, tmp_path):
    with sqlite_app.app_context():
        engine = db.engine
    store = SessionStore(engine)
    record = store.create("streamable", "hash-1")
    assert store.get(record.id) == record
    # The database goes away for real: its directory is moved and no pooled connection is left.
    (tmp_path / "janus.db").rename(tmp_path / "moved.db")
    tmp_path.joinpath("janus.db").mkdir()  # a directory where the file was: SQLite cannot open it
    engine.dispose()
    time.sleep(SESSION_CACHE_SECONDS * 2)  # past the cache window: a lookup would now go to the database
    assert store.get(record.id) == record
    with pytest.raises(DatabaseUnavailable) as refused:
        store.get("never-seen")
    assert refused.value.status == 503 and refused.value.retry_after
