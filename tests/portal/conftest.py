"""A signed-in portal client per role, on a real SQLite file."""

from __future__ import annotations

import re
from functools import partial

import pytest
from werkzeug.security import generate_password_hash

from janus.extensions import db
from janus.services import users as users_service

PASSWORD = "correct horse battery staple"
CHEAP_HASH = "pbkdf2:sha256:1000"  # fixture users only; see portal_app
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Portal:
    def __init__(self, app, client):
        self.app = app
        self.client = client
        self.csrf = ""

    def login(self, username: str, password: str = PASSWORD):
        page = self.client.get("/login")
        self.csrf = CSRF.search(page.get_data(as_text=True)).group(1)
        return self.client.post("/login", data={"username": username, "password": password, "csrf_token": self.csrf})

    def post(self, url: str, data: dict | None = None, htmx: bool = False, csrf: bool = True):
        form = {**(data or {}), **({"csrf_token": self.csrf} if csrf else {})}
        return self.client.post(url, data=form, headers={"HX-Request": "true"} if htmx else {})

    def get(self, url: str, htmx: bool = False):
        return self.client.get(url, headers={"HX-Request": "true"} if htmx else {})


@pytest.fixture
def portal_app(sqlite_app, monkeypatch):
    # The fixture users get a cheap hash (as the admin API's do): scrypt costs ~0.2 s per user and per
    # sign-in, most of this module's time. Made through the same service; sign-in checks whatever method
    # the stored hash names, and password changes in the tests still use the real default.
    with monkeypatch.context() as cheap:
        cheap.setattr(users_service, "generate_password_hash", partial(generate_password_hash, method=CHEAP_HASH))
        with sqlite_app.app_context():
            users_service.create_user("setup", {"username": "alice", "password": PASSWORD, "role": "admin"})
            users_service.create_user("setup", {"username": "victor", "password": PASSWORD, "role": "viewer"})
            db.session.remove()
    return sqlite_app


@pytest.fixture
def admin(portal_app):
    portal = Portal(portal_app, portal_app.test_client())
    assert portal.login("alice").status_code == 303
    return portal


@pytest.fixture
def viewer(portal_app):
    portal = Portal(portal_app, portal_app.test_client())
    assert portal.login("victor").status_code == 303
    return portal
