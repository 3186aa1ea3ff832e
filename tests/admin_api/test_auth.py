"""Logging in, session tokens, and the JSON answers for unknown routes and methods."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from janus.auth import session_jwt
from tests.admin_api.conftest import PASSWORD, add_user, assert_refused, audit_rows, bearer, call, snapshot

LOGIN = "/api/v1/login"
BAD_CREDENTIALS = "wrong username or password, or the user is disabled"


def test_login_answers_a_session_token_its_expiry_and_the_user_and_audits_the_success(app, api):
    user_id = add_user(app, "root", "admin")
    response = api.post(LOGIN, json={"username": "root", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json
    assert set(body) == {"token", "expires_at", "user"}
    assert body["user"] == {"id": user_id, "username": "root", "role": "admin", "enabled": True,
                            "created_at": body["user"]["created_at"]}
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    hours = (expires - datetime.now(timezone.utc)).total_seconds() / 3600
    assert abs(hours - app.config["SESSION_JWT_HOURS"]) < 0.1
    assert session_jwt.verify(app.config["JWT_SECRET"], body["token"])["sub"] == "root"
    assert api.get("/api/v1/status", headers={"Authorization": f"Bearer {body['token']}"}).status_code == 200
    [row] = audit_rows(app, "login.success")
    assert (row.actor, row.target_type, row.target_id) == ("root", "user", user_id)
    assert PASSWORD not in str(row.details)


def test_a_wrong_password_answers_401_and_is_audited_as_a_failure_under_the_attempted_name(app, api):
    add_user(app, "root", "admin")
    response = api.post(LOGIN, json={"username": "root", "password": "not the password"})
    assert response.status_code == 401
    assert response.json == {"error": "unauthorized", "message": BAD_CREDENTIALS}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    [row] = audit_rows(app, "login.failure")
    assert (row.actor, row.target_type, row.target_id) == ("root", "user", None)
    assert "not the password" not in str(row.details)
    assert audit_rows(app, "login.success") == []


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password_and_is_audited(app, api):
    response = api.post(LOGIN, json={"username": "nobody", "password": PASSWORD})
    assert (response.status_code, response.json) == (401, {"error": "unauthorized", "message": BAD_CREDENTIALS})
    assert [row.actor for row in audit_rows(app, "login.failure")] == ["nobody"]


def test_a_disabled_user_cannot_log_in_even_with_the_right_password(app, api):
    add_user(app, "gone", "admin", enabled=False)
    response = api.post(LOGIN, json={"username": "gone", "password": PASSWORD})
    assert (response.status_code, response.json) == (401, {"error": "unauthorized", "message": BAD_CREDENTIALS})
    assert [row.actor for row in audit_rows(app, "login.failure")] == ["gone"]


@pytest.mark.parametrize("body, message", [
    ({"password": PASSWORD}, "username is required"),
    ({"username": "", "password": PASSWORD}, "username must not be empty"),
    ({"username": 7, "password": PASSWORD}, "username must be a string"),
    ({"username": "root"}, "password is required"),
    ({"username": "root", "password": ""}, "password is required"),
    ({"username": "root", "password": ["x"]}, "password is required"),
    ({"username": "root", "password": PASSWORD, "otp": "1"}, "unknown field(s): otp; allowed: password, username"),
    ({"username": "ro\u0000ot", "password": PASSWORD}, "username must not contain NUL characters"),
    ({"username": "r" * 151, "password": PASSWORD}, "username must be at most 150 characters"),
])
def test_a_malformed_login_answers_400_and_records_nothing(app, api, body, message):
    add_user(app, "root", "admin")
    assert_refused(app, api, "POST", LOGIN, None, body, status=400, message=message)


@pytest.mark.parametrize("kwargs", [
    {},
    {"data": "{not json", "content_type": "application/json"},
    {"data": "[1, 2]", "content_type": "application/json"},
    {"data": '"root"', "content_type": "application/json"},
    {"data": "null", "content_type": "application/json"},
    {"data": "username=root", "content_type": "application/x-www-form-urlencoded"},
    {"data": "[" * 100_000, "content_type": "application/json"},
], ids=["no body", "malformed", "array", "string", "null", "form", "absurdly nested"])
def test_a_body_that_is_not_a_json_object_answers_400_bad_request(app, api, kwargs):
    before = snapshot(app)
    response = api.post(LOGIN, **kwargs)
    assert (response.status_code, response.json) == (
        400, {"error": "bad_request", "message": "request body must be a JSON object"})
    assert snapshot(app) == before


def test_a_request_without_a_session_token_answers_401_with_a_hint(app, api):
    response = api.get("/api/v1/connections")
    assert response.status_code == 401
    assert response.json == {"error": "unauthorized", "message": "log in first: POST /api/v1/login, then send "
                                                                 "'Authorization: Bearer <session token>'"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer garbage", "Bearer a.b.c", "Basic cm9vdDpwdw==", "Bearer ", "garbage"])
def test_a_garbage_token_answers_401(app, api, header):
    add_user(app, "root", "admin")
    response = api.get("/api/v1/connections", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"


def test_a_token_signed_with_another_secret_answers_401_invalid_session(app, api):
    add_user(app, "root", "admin")
    token, _ = session_jwt.issue("some-other-secret-of-sufficient-length", "root", 1)
    response = api.get("/api/v1/connections", headers={"Authorization": f"Bearer {token}"})
    assert (response.status_code, response.json) == (401, {"error": "unauthorized", "message": "invalid session token"})


def test_an_expired_token_answers_401_session_expired(app, api):
    add_user(app, "root", "admin")
    response = api.get("/api/v1/connections", headers=bearer(app, "root", hours=-1))
    assert (response.status_code, response.json) == (
        401, {"error": "unauthorized", "message": "session expired; log in again"})


def test_a_token_of_a_user_disabled_since_login_answers_401(app, api, admin):
    gone_id = add_user(app, "gone", "admin")
    headers = bearer(app, "gone")
    assert api.get("/api/v1/connections", headers=headers).status_code == 200
    assert api.patch(f"/api/v1/users/{gone_id}", headers=admin, json={"enabled": False}).status_code == 200
    response = api.get("/api/v1/connections", headers=headers)
    assert (response.status_code, response.json) == (
        401, {"error": "unauthorized", "message": "the session's user no longer exists or is disabled"})


def test_an_unknown_route_under_api_v1_answers_a_json_404(app, api, admin):
    response = api.get("/api/v1/nothing-here", headers=admin)
    assert response.status_code == 404
    assert response.is_json and response.json["error"] == "not_found" and response.json["message"]


def test_an_unsupported_method_answers_a_json_405_with_allow(app, api, admin):
    response = api.put("/api/v1/connections", headers=admin, json={})
    assert response.status_code == 405
    assert response.is_json and response.json["error"] == "method_not_allowed"
    assert set(re.split(r",\s*", response.headers["Allow"])) >= {"GET", "POST"}
    assert call(api, "POST", "/api/v1/status", admin).status_code == 405


def test_the_lockout_counts_failures_since_the_last_success_on_every_backend(app, api):
    add_user(app, "root", "admin")
    for _ in range(4):
        assert api.post(LOGIN, json={"username": "root", "password": "wrong password"}).status_code == 401
    assert api.post(LOGIN, json={"username": "root", "password": PASSWORD}).status_code == 200
    for _ in range(4):  # 8 failures within the window, but only 4 since the success
        assert api.post(LOGIN, json={"username": "root", "password": "wrong password"}).status_code == 401
    assert api.post(LOGIN, json={"username": "root", "password": PASSWORD}).status_code == 200
    for _ in range(5):
        api.post(LOGIN, json={"username": "root", "password": "wrong password"})
    assert api.post(LOGIN, json={"username": "root", "password": PASSWORD}).status_code == 429
