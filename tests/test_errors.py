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


def test_an_sse_message_for_a_session_the_worker_never_saw_gets_503_while_the_database_is_away(sqlite_app, tmp_path):
    from tests.support.catalog import add_token

    token = "sse_token_with_enough_entropy_000001"
    add_token(sqlite_app, "SSE", token, "*")
    client = sqlite_app.test_client()
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = '{"jsonrpc":"2.0","id":1,"method":"ping"}'
    # The database is up: the catalogue (tokens) is loaded and cached, an unknown session is a 404.
    assert client.post("/messages?sessionId=unknown-1", data=body, headers=auth).status_code == 404
    with sqlite_app.app_context():
        db.session.remove()
        db.engine.dispose()
    (tmp_path / "janus.db").rename(tmp_path / "moved.db")
    tmp_path.joinpath("janus.db").mkdir()
    reply = client.post("/messages?sessionId=unknown-2", data=body, headers=auth)
    assert reply.status_code == 503, reply.get_data(as_text=True)
    assert reply.headers["Retry-After"] == "2"
    assert reply.get_json()["error"] == "database_unavailable"
    with sqlite_app.app_context():
        db.session.remove()
        db.engine.dispose()
