"""Users over the API: roles, password rules, and the last admin who must stay."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from werkzeug.security import check_password_hash

from janus.extensions import db
from janus.models import User
from tests.admin_api.conftest import add_user, assert_refused, audit_rows, bearer, dumps

URL = "/api/v1/users"
LAST_ADMIN = "this is the last enabled admin; create another admin first"


def _user(app, username: str) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        db.session.expunge(user)
        return user


def test_a_created_user_is_a_viewer_by_default_can_log_in_and_the_password_is_nowhere(app, api, admin):
    password = "a-long-enough-password"
    response = api.post(URL, headers=admin, json={"username": "vic.tor@example", "password": password})
    assert response.status_code == 201
    user = response.json
    assert user | {"id": "", "created_at": ""} == {
        "id": "",
        "username": "vic.tor@example",
        "role": "viewer",
        "enabled": True,
        "source": "local",
        "created_at": "",
    }
    assert [u["username"] for u in api.get(URL, headers=admin).json["items"]] == ["root", "vic.tor@example"]
    assert user in api.get(URL, headers=admin).json["items"]
    login = api.post("/api/v1/login", json={"username": "vic.tor@example", "password": password})
    assert login.status_code == 200 and login.json["user"] == user
    [row] = audit_rows(app, "user.create")
    stored = _user(app, "vic.tor@example")
    assert row.details == {"after": user}
    assert password not in dumps(row.details) and stored.password_hash not in dumps(row.details)
    assert password not in response.get_data(as_text=True)


def test_a_password_change_is_audited_as_changed_without_the_password(app, api, admin):
    vic_id = add_user(app, "vic", "viewer")
    response = api.patch(f"{URL}/{vic_id}", headers=admin, json={"password": "another-long-password", "role": "admin"})
    assert response.status_code == 200 and response.json["role"] == "admin"
    assert check_password_hash(_user(app, "vic").password_hash, "another-long-password")
    [row] = audit_rows(app, "user.update")
    assert row.details["password_changed"] is True
    assert (row.details["before"]["role"], row.details["after"]["role"]) == ("viewer", "admin")
    assert "another-long-password" not in dumps(row.details)
    assert _user(app, "vic").password_hash not in dumps(row.details)


def test_a_user_is_deleted_with_204_and_audited(app, api, admin):
    vic_id = add_user(app, "vic", "viewer")
    assert api.delete(f"{URL}/{vic_id}", headers=admin).status_code == 204
    [row] = audit_rows(app, "user.delete")
    assert (row.actor, row.target_id, row.details["before"]["username"]) == ("root", vic_id, "vic")
    assert [u["username"] for u in api.get(URL, headers=admin).json["items"]] == ["root"]


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_an_unknown_user_id_answers_404(app, api, admin, method):
    assert_refused(
        app,
        api,
        method,
        f"{URL}/nope",
        admin,
        {} if method == "PATCH" else None,
        status=404,
        message="user 'nope' not found",
    )


OK = {"username": "vic", "password": "a-long-enough-password"}


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"password": OK["password"]}, 400, "username is required"),
        ({**OK, "username": "vic tor"}, 400, "username may contain letters, digits and . _ @ - only"),
        ({**OK, "username": "vïc"}, 400, "username may contain letters, digits and . _ @ - only"),
        ({**OK, "username": "root"}, 409, "user 'root' already exists"),
        ({"username": "vic"}, 400, "password is required"),
        ({**OK, "password": "elevenchars"}, 400, "password must be at least 12 characters"),
        ({**OK, "password": 123456789012}, 400, "password must be a string"),
        ({**OK, "password": "twelve\u0000chars!!"}, 400, "password must not contain NUL characters"),
        ({**OK, "role": "owner"}, 400, "role 'owner' is unknown; expected one of admin, viewer"),
        ({**OK, "role": "developer"}, 400, "role 'developer' is unknown; expected one of admin, viewer"),
        ({**OK, "enabled": None, "x": 1}, 400, "unknown field(s): x; allowed: enabled, password, role, username"),
    ],
    ids=lambda v: v if isinstance(v, int) else None,
)
def test_an_invalid_user_is_refused_with_a_specific_message_and_nothing_stored(app, api, admin, body, status, message):
    assert_refused(app, api, "POST", URL, admin, body, status=status, message=message)


@pytest.mark.parametrize(
    "body, message",
    [
        ({"password": "short"}, "password must be at least 12 characters"),
        ({"role": "owner"}, "role 'owner' is unknown; expected one of admin, viewer"),
        ({"role": None}, "role is required"),
        ({"enabled": "no"}, "enabled must be true or false"),
        ({"username": "renamed"}, "unknown field(s): username; allowed: enabled, password, role"),
    ],
)
def test_an_invalid_patch_is_refused_and_the_user_is_unchanged(app, api, admin, body, message):
    vic_id = add_user(app, "vic", "viewer")
    assert_refused(app, api, "PATCH", f"{URL}/{vic_id}", admin, body, status=400, message=message)


def test_a_password_with_an_unpaired_surrogate_is_refused(app, api, admin):
    assert_refused(
        app,
        api,
        "POST",
        URL,
        admin,
        raw='{"username": "vic", "password": "twelve chars \\udc00"}',
        status=400,
        message="password must be valid Unicode text (no unpaired surrogates)",
    )


@pytest.mark.parametrize(
    "method, body",
    [("PATCH", {"role": "viewer"}), ("PATCH", {"enabled": False}), ("DELETE", None)],
    ids=["demoted", "disabled", "deleted"],
)
def test_the_last_enabled_admin_cannot_be_demoted_disabled_or_deleted(app, api, admin, method, body):
    root_id = _user(app, "root").id
    add_user(app, "sleepy", "admin", enabled=False)  # a disabled admin does not count
    assert_refused(app, api, method, f"{URL}/{root_id}", admin, body, status=409, message=LAST_ADMIN)


def test_with_a_second_admin_the_first_may_step_down(app, api, admin):
    root_id = _user(app, "root").id
    add_user(app, "second", "admin")
    response = api.patch(f"{URL}/{root_id}", headers=admin, json={"role": "viewer"})
    assert response.status_code == 200 and response.json["role"] == "viewer"
    # root's role is read on every request: the same session token is now a viewer's.
    assert api.delete(f"{URL}/{root_id}", headers=admin).status_code == 403
    assert api.delete(f"{URL}/{root_id}", headers=bearer(app, "second")).status_code == 204
