"""Logging in, session tokens, and the JSON answers for unknown routes and methods."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from janus.auth import session_jwt
from janus.auth.admin import SESSION_ENDED
from tests.admin_api.conftest import PASSWORD, add_user, assert_refused, audit_rows, bearer, call, snapshot

LOGIN = "/api/v1/login"
BAD_CREDENTIALS = "wrong username or password, or the user is disabled"


def test_login_answers_a_session_token_its_expiry_and_the_user_and_audits_the_success(app, api):
    user_id = add_user(app, "root", "admin")
    response = api.post(LOGIN, json={"username": "root", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json
    assert set(body) == {"token", "expires_at", "user"}
    assert body["user"] == {
        "id": user_id,
        "username": "root",
        "role": "admin",
        "enabled": True,
        "source": "local",
        "created_at": body["user"]["created_at"],
    }
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    hours = (expires - datetime.now(UTC)).total_seconds() / 3600
    assert abs(hours - app.config["SESSION_JWT_HOURS"]) < 0.1
    claims = session_jwt.verify(app.config["JWT_SECRET"], body["token"])
    assert (claims["sub"], claims["cv"]) == (user_id, 1)  # the user's id, never the (reusable) username
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


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password_and_is_audited_under_a_placeholder(app, api):
    response = api.post(LOGIN, json={"username": "nobody", "password": PASSWORD})
    assert (response.status_code, response.json) == (401, {"error": "unauthorized", "message": BAD_CREDENTIALS})
    # An attacker-chosen name is never written to the audit log.
    assert [row.actor for row in audit_rows(app, "login.failure")] == ["(unknown user)"]
    assert "nobody" not in str(audit_rows(app, "login.failure")[0].details)


def test_a_disabled_user_cannot_log_in_even_with_the_right_password(app, api):
    add_user(app, "gone", "admin", enabled=False)
    response = api.post(LOGIN, json={"username": "gone", "password": PASSWORD})
    assert (response.status_code, response.json) == (401, {"error": "unauthorized", "message": BAD_CREDENTIALS})
    assert [row.actor for row in audit_rows(app, "login.failure")] == ["gone"]


@pytest.mark.parametrize(
    "body, message",
    [
        ({"password": PASSWORD}, "username is required"),
        ({"username": "", "password": PASSWORD}, "username must not be empty"),
        ({"username": 7, "password": PASSWORD}, "username must be a string"),
        ({"username": "root"}, "password is required"),
        ({"username": "root", "password": ""}, "password must not be empty"),
        ({"username": "root", "password": ["x"]}, "password must be a string"),
        ({"username": "root", "password": PASSWORD, "otp": "1"}, "unknown field(s): otp; allowed: password, username"),
        ({"username": "ro\u0000ot", "password": PASSWORD}, "username must not contain NUL characters"),
        ({"username": "r" * 151, "password": PASSWORD}, "username must be at most 150 characters"),
    ],
)
def test_a_malformed_login_answers_400_and_records_nothing(app, api, body, message):
    add_user(app, "root", "admin")
    assert_refused(app, api, "POST", LOGIN, None, body, status=400, message=message)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"data": "{not json", "content_type": "application/json"},
        {"data": "[1, 2]", "content_type": "application/json"},
        {"data": '"root"', "content_type": "application/json"},
        {"data": "null", "content_type": "application/json"},
        {"data": "username=root", "content_type": "application/x-www-form-urlencoded"},
        {"data": "[" * 100_000, "content_type": "application/json"},
    ],
    ids=["no body", "malformed", "array", "string", "null", "form", "absurdly nested"],
)
def test_a_body_that_is_not_a_json_object_answers_400_bad_request(app, api, kwargs):
    before = snapshot(app)
    response = api.post(LOGIN, **kwargs)
    assert (response.status_code, response.json) == (
        400,
        {"error": "bad_request", "message": "request body must be a JSON object"},
    )
    assert snapshot(app) == before


def test_a_request_without_a_session_token_answers_401_with_a_hint(app, api):
    response = api.get("/api/v1/connections")
    assert response.status_code == 401
    assert response.json == {
        "error": "unauthorized",
        "message": "log in first: POST /api/v1/login, then send 'Authorization: Bearer <session token>'",
    }
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer garbage", "Bearer a.b.c", "Basic cm9vdDpwdw==", "Bearer ", "garbage"])
def test_a_garbage_token_answers_401(app, api, header):
    add_user(app, "root", "admin")
    response = api.get("/api/v1/connections", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"


def test_a_token_signed_with_another_secret_answers_401_invalid_session(app, api):
    add_user(app, "root", "admin")
    token, _ = session_jwt.issue(
        "some-other-secret-of-sufficient-length", user_id="x", sid="y", credential_version=1, hours=1
    )
    response = api.get("/api/v1/connections", headers={"Authorization": f"Bearer {token}"})
    assert (response.status_code, response.json) == (401, {"error": "unauthorized", "message": "invalid session token"})


def test_an_expired_token_answers_401_session_expired(app, api):
    add_user(app, "root", "admin")
    response = api.get("/api/v1/connections", headers=bearer(app, "root", hours=-1))
    assert (response.status_code, response.json) == (
        401,
        {"error": "unauthorized", "message": "session expired; log in again"},
    )


def test_only_an_expired_token_is_called_expired(app, api):
    """Told apart by the error's class, not by words in its message: a token that merely lacks or garbles
    its `exp` is invalid, not expired."""
    import time

    from joserfc import jwt

    add_user(app, "root", "admin")
    key = session_jwt._key(app.config["JWT_SECRET"])
    now = int(time.time())
    base = {"sub": "x", "sid": "y", "cv": 1, "iss": session_jwt.ISSUER, "aud": session_jwt.AUDIENCE, "iat": now}
    for claims in ({**base}, {**base, "exp": "expired"}, {**base, "exp": now + 60, "nbf": now + 3600}):
        token = jwt.encode({"alg": session_jwt.ALGORITHM}, claims, key, algorithms=[session_jwt.ALGORITHM])
        response = api.get("/api/v1/connections", headers={"Authorization": f"Bearer {token}"})
        assert (response.status_code, response.json["message"]) == (401, "invalid session token"), claims


def test_a_token_of_a_user_disabled_since_login_answers_401(app, api, admin):
    gone_id = add_user(app, "gone", "admin")
    headers = bearer(app, "gone")
    assert api.get("/api/v1/connections", headers=headers).status_code == 200
    assert api.patch(f"/api/v1/users/{gone_id}", headers=admin, json={"enabled": False}).status_code == 200
    response = api.get("/api/v1/connections", headers=headers)
    assert (response.status_code, response.json) == (401, {"error": "unauthorized", "message": SESSION_ENDED})


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


# -- issue 10, item 8: a session token is a server-side sign-in of one user id -------------------------


def _login(api, username: str = "root", password: str = PASSWORD, **kwargs) -> dict[str, str]:
    response = api.post(LOGIN, json={"username": username, "password": password}, **kwargs)
    assert response.status_code == 200, response.json
    return {"Authorization": f"Bearer {response.json['token']}"}


def _refused(api, headers) -> bool:
    response = api.get("/api/v1/status", headers=headers)
    return (response.status_code, response.json) == (401, {"error": "unauthorized", "message": SESSION_ENDED})


def test_logout_ends_the_token_at_once_and_a_second_logout_is_harmless(app, api):
    user_id = add_user(app, "root", "admin")
    headers = _login(api)
    other = _login(api)  # another sign-in of the same user is not affected
    assert api.get("/api/v1/status", headers=headers).status_code == 200

    assert api.post("/api/v1/logout", headers=headers).status_code == 204

    assert _refused(api, headers)
    assert api.get("/api/v1/status", headers=other).status_code == 200
    assert api.post("/api/v1/logout", headers=headers).status_code == 204
    [row] = audit_rows(app, "logout")
    assert (row.actor, row.target_id, row.details["via"]) == ("root", user_id, "api")


def test_logout_without_a_valid_token_answers_401(app, api):
    assert api.post("/api/v1/logout").status_code == 401
    assert api.post("/api/v1/logout", headers={"Authorization": "Bearer a.b.c"}).status_code == 401


def test_a_new_password_ends_every_token_of_the_user(app, api, admin):
    user_id = add_user(app, "dev", "viewer")
    headers = _login(api, "dev")

    assert (
        api.patch(f"/api/v1/users/{user_id}", headers=admin, json={"password": "a brand new password"}).status_code
        == 200
    )

    assert _refused(api, headers)
    assert api.get("/api/v1/status", headers=_login(api, "dev", "a brand new password")).status_code == 200


def test_a_disabled_then_re_enabled_user_does_not_get_its_old_tokens_back(app, api, admin):
    user_id = add_user(app, "dev", "viewer")
    headers = _login(api, "dev")
    assert api.patch(f"/api/v1/users/{user_id}", headers=admin, json={"enabled": False}).status_code == 200
    assert api.patch(f"/api/v1/users/{user_id}", headers=admin, json={"enabled": True}).status_code == 200
    assert _refused(api, headers)


def test_a_deleted_users_token_does_not_come_back_when_the_username_is_reused_with_another_role(app, api, admin):
    user_id = add_user(app, "dev", "viewer")
    headers = _login(api, "dev")
    assert api.delete(f"/api/v1/users/{user_id}", headers=admin).status_code == 204
    assert _refused(api, headers)

    created = api.post("/api/v1/users", headers=admin, json={"username": "dev", "password": PASSWORD, "role": "admin"})
    assert created.status_code == 201

    assert _refused(api, headers)
    assert api.post("/api/v1/tokens", headers=headers, json={"name": "x", "scopes": ["*"]}).status_code == 401


def test_a_token_whose_credential_version_is_stale_is_refused_even_with_a_live_sign_in(app, api):
    from janus.services import sign_ins

    user_id = add_user(app, "root", "admin")
    with app.app_context():
        sign_in = sign_ins.start_api(user_id, sign_ins.Limits())
    token, _ = session_jwt.issue(
        app.config["JWT_SECRET"],
        user_id=user_id,
        sid=sign_in.sid,
        credential_version=sign_in.credential_version - 1,
        hours=1,
    )
    assert _refused(api, {"Authorization": f"Bearer {token}"})
    token, _ = session_jwt.issue(
        app.config["JWT_SECRET"],
        user_id=user_id,
        sid=sign_in.sid,
        credential_version=sign_in.credential_version,
        hours=1,
    )
    assert api.get("/api/v1/status", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_a_well_signed_token_without_a_server_side_sign_in_is_refused(app, api):
    user_id = add_user(app, "root", "admin")
    token, _ = session_jwt.issue(
        app.config["JWT_SECRET"], user_id=user_id, sid="made-up", credential_version=1, hours=1
    )
    assert _refused(api, {"Authorization": f"Bearer {token}"})


def test_a_portal_sign_in_secret_cannot_serve_as_an_admin_api_sid(app, api):
    from janus.services import sign_ins

    user_id = add_user(app, "root", "admin")
    with app.app_context():
        portal_secret = sign_ins.start(user_id, sign_ins.Limits())
    token, _ = session_jwt.issue(
        app.config["JWT_SECRET"], user_id=user_id, sid=portal_secret, credential_version=1, hours=1
    )
    assert _refused(api, {"Authorization": f"Bearer {token}"})


def test_a_token_in_the_old_username_form_is_refused(app, api):
    from joserfc import jwt as jose_jwt

    add_user(app, "root", "admin")
    claims = {"sub": "root", "iss": "janus", "aud": "janus-admin", "iat": 0, "exp": 4_102_444_800}
    old = jose_jwt.encode({"alg": "HS256"}, claims, session_jwt._key(app.config["JWT_SECRET"]), algorithms=["HS256"])
    response = api.get("/api/v1/status", headers={"Authorization": f"Bearer {old}"})
    assert (response.status_code, response.json["message"]) == (401, "invalid session token")


# -- issue 10, items 5 and 13: throttling by client address, lockout by (username, address) ------------

ATTACKER = {"REMOTE_ADDR": "203.0.113.7"}
ADMIN_DESK = {"REMOTE_ADDR": "198.51.100.20"}


def test_guessing_from_one_address_locks_that_address_out_but_not_the_real_admin_elsewhere(app, api):
    add_user(app, "root", "admin")
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert api.post(LOGIN, json={"username": "root", "password": "guess"}, environ_base=ATTACKER).status_code == 401

    refused = api.post(LOGIN, json={"username": "root", "password": PASSWORD}, environ_base=ATTACKER)

    assert refused.status_code == 429 and refused.json["error"] == "too_many_attempts"
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60 + 1
    assert "from this address" in refused.json["message"]
    _login(api, environ_base=ADMIN_DESK)  # the real admin, from another address, is not locked out


def test_a_lockout_is_recorded_once_not_for_every_refused_attempt(app, api):
    add_user(app, "root", "admin")
    for _ in range(app.config["LOGIN_MAX_FAILURES"] + 10):
        api.post(LOGIN, json={"username": "root", "password": "guess"}, environ_base=ATTACKER)
    assert len(audit_rows(app, "login.failure")) == app.config["LOGIN_MAX_FAILURES"]
    [row] = audit_rows(app, "login.throttled")
    assert row.actor == "root" and row.details["remote_addr"] == "203.0.113.7"


def test_more_attempts_a_minute_than_the_rate_from_one_address_get_429_before_any_password_check(app, api):
    app.config["LOGIN_RATE_PER_IP"] = 3
    add_user(app, "root", "admin")
    for name in ("a", "b", "c"):
        assert api.post(LOGIN, json={"username": name, "password": "x"}, environ_base=ATTACKER).status_code == 401
    for name in ("d", "e", "root"):
        response = api.post(LOGIN, json={"username": name, "password": PASSWORD}, environ_base=ATTACKER)
        assert response.status_code == 429 and "attempts from this address" in response.json["message"]
        assert 1 <= int(response.headers["Retry-After"]) <= 61
    # Counted, not stored one by one: three failures and one throttled row, no attacker-chosen names.
    assert [r.actor for r in audit_rows(app, "login.failure")] == ["(unknown user)"] * 3
    assert [r.actor for r in audit_rows(app, "login.throttled")] == ["(any user)"]
    _login(api, environ_base=ADMIN_DESK)


def test_x_forwarded_for_is_ignored_unless_trusted_proxy_hops_is_set(app, api):
    app.config["LOGIN_RATE_PER_IP"] = 2
    for n in range(3):
        response = api.post(
            LOGIN,
            json={"username": "x", "password": "y"},
            headers={"X-Forwarded-For": f"10.0.0.{n}"},
            environ_base=ATTACKER,
        )
    assert response.status_code == 429  # a fresh claimed address per attempt bought nothing

    app.config["TRUSTED_PROXY_HOPS"] = 1  # now the proxy at REMOTE_ADDR is trusted to append the client
    for n in range(3):
        response = api.post(
            LOGIN,
            json={"username": "x", "password": "y"},
            headers={"X-Forwarded-For": f"evil, 10.0.1.{n}"},
            environ_base=ATTACKER,
        )
        assert response.status_code == 401
    assert {r.details["remote_addr"] for r in audit_rows(app, "login.failure")} >= {"10.0.1.0", "10.0.1.2"}
