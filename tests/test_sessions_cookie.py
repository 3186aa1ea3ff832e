"""The cookie session's shortcut for cookie-less requests changes nothing a browser can see."""

from __future__ import annotations

from flask import session


def test_requests_without_cookies_get_a_writable_session_and_cookies_round_trip(sqlite_app):
    @sqlite_app.get("/_test/session/set")
    def set_value():
        session["who"] = "alice"
        return "set"

    @sqlite_app.get("/_test/session/get")
    def get_value():
        return session.get("who", "nobody")

    client = sqlite_app.test_client()
    assert client.get("/_test/session/get").get_data(as_text=True) == "nobody"
    reply = client.get("/_test/session/set")  # no Cookie header yet: the shortcut's session must still save
    assert "session=" in reply.headers.get("Set-Cookie", "")
    assert client.get("/_test/session/get").get_data(as_text=True) == "alice"
    client.delete_cookie("session")
    client.set_cookie("session", "forged.value.sig")
    assert client.get("/_test/session/get").get_data(as_text=True) == "nobody"  # a bad signature is ignored
