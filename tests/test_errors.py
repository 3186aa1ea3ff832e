"""A database that is away is a 503 with Retry-After, never a 500."""

from __future__ import annotations

from janus.extensions import db


def test_an_api_request_needing_the_database_gets_503_with_retry_after(sqlite_app, tmp_path):
    with sqlite_app.app_context():
        db.session.remove()
        db.engine.dispose()
    (tmp_path / "janus.db").rename(tmp_path / "moved.db")
    tmp_path.joinpath("janus.db").mkdir()  # SQLite cannot open a directory: every connection fails
    reply = sqlite_app.test_client().post("/api/v1/login", json={"username": "admin", "password": "x" * 12})
    assert reply.status_code == 503, reply.get_data(as_text=True)
    assert reply.headers["Retry-After"] == "2"
    assert reply.get_json() == {
        "error": "database_unavailable",
        "message": "The gateway's database is unavailable right now; retry in a few seconds.",
    }
    with sqlite_app.app_context():
        db.session.remove()
        db.engine.dispose()
