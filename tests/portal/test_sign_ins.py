"""Portal sign-ins are server-side: signing out, idling, expiring, disabling or re-passwording ends them;
failed sign-ins are audited and throttled, shared with the admin API's login."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from janus.extensions import db
from janus.models import AdminAuditLog, PortalSession, User
from janus.services import sign_ins
from janus.services import users as users_service
from tests.portal.conftest import PASSWORD, Portal


def _user_id(app, username: str) -> str:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.username == username))


def _actions(app, actor: str) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(AdminAuditLog.action).where(AdminAuditLog.actor == actor).order_by(AdminAuditLog.id)
            )
        )


def _replay(app, cookie: str):
    """A second browser presenting a copy of the session cookie taken earlier."""
    client = app.test_client()
    client.set_cookie("session", cookie)
    return client


def _session_cookie(portal: Portal) -> str:
    return portal.client.get_cookie("session").value


def test_a_cookie_copied_before_sign_out_is_worthless_after_it(admin):
    stolen = _session_cookie(admin)
    assert _replay(admin.app, stolen).get("/tokens").status_code == 200  # the copy works while signed in
    assert admin.post("/logout").status_code == 303
    assert _replay(admin.app, stolen).get("/tokens").status_code == 302  # to the login page
    with admin.app.app_context():
        sign_in = db.session.scalars(select(PortalSession)).one()
        assert sign_in.ended_at is not None


def test_signing_out_is_in_the_admin_audit_log_once(admin):
    assert admin.post("/logout").status_code == 303
    with admin.app.app_context():
        rows = list(db.session.scalars(select(AdminAuditLog).where(AdminAuditLog.action == "logout")))
    assert [(r.actor, r.target_type, r.target_id, r.details["via"]) for r in rows] == [
        ("alice", "user", _user_id(admin.app, "alice"), "portal")
    ]


def test_the_sign_in_row_stores_a_digest_not_the_cookie_secret(admin):
    from flask.sessions import SecureCookieSessionInterface

    serializer = SecureCookieSessionInterface().get_signing_serializer(admin.app)
    secret = serializer.loads(_session_cookie(admin))["sign_in"]
    with admin.app.app_context():
        ids = list(db.session.scalars(select(PortalSession.id)))
    assert len(ids) == 1 and secret not in ids[0] and len(ids[0]) == 64


def test_an_idle_sign_in_ends(admin):
    with admin.app.app_context():
        db.session.execute(update(PortalSession).values(last_seen_at=datetime.now(UTC) - timedelta(minutes=61)))
        db.session.commit()
    assert admin.get("/").status_code == 302


def test_a_sign_in_ends_at_its_absolute_expiry_however_busy(admin):
    with admin.app.app_context():
        db.session.execute(update(PortalSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        db.session.commit()
    assert admin.get("/").status_code == 302


def test_disabling_a_user_or_setting_a_new_password_ends_their_sign_ins(portal_app):
    first, second = (Portal(portal_app, portal_app.test_client()) for _ in range(2))
    for portal in (first, second):
        assert portal.login("victor").status_code == 303 and portal.get("/").status_code == 200
    victor = _user_id(portal_app, "victor")
    with portal_app.app_context():
        users_service.update_user("alice", victor, {"password": "a brand new password 1"})
        db.session.commit()
    assert first.get("/").status_code == 302 and second.get("/").status_code == 302
    assert first.login("victor", "a brand new password 1").status_code == 303
    with portal_app.app_context():
        users_service.update_user("alice", victor, {"enabled": False})
        db.session.commit()
    assert first.get("/").status_code == 302


def test_sign_ins_and_failures_are_in_the_admin_audit_log(portal_app):
    portal = Portal(portal_app, portal_app.test_client())
    assert portal.login("alice", "wrong password").status_code == 401
    assert portal.login("alice").status_code == 303
    assert _actions(portal_app, "alice")[-2:] == ["login.failure", "login.success"]
    with portal_app.app_context():
        row = db.session.scalars(select(AdminAuditLog).order_by(AdminAuditLog.id.desc())).first()
        assert row.details == {"via": "portal", "remote_addr": "127.0.0.1"}


class Clock:
    """The sign-in guard's clock, moved by hand instead of waiting."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_repeated_failures_lock_the_username_for_a_while_without_checking_the_password(portal_app):
    clock = Clock()
    portal_app.extensions["janus.sign_in_guard"] = sign_ins.Guard(clock)
    portal = Portal(portal_app, portal_app.test_client())
    for _ in range(5):
        assert portal.login("alice", "guess").status_code == 401
    refused = portal.login("alice")  # the right password, but locked
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.get_data(as_text=True)
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60 + 1
    assert portal.get("/").status_code == 302
    # Refusals are recorded (once) but do not count as failures (an attacker cannot extend the lock forever).
    assert portal.login("alice").status_code == 429
    assert _actions(portal_app, "alice")[-6:] == ["login.failure"] * 5 + ["login.throttled"]
    # Other usernames are unaffected.
    assert Portal(portal_app, portal_app.test_client()).login("victor").status_code == 303
    # Once the window has passed, the right password works again.
    clock.now += 15 * 60 + 1
    assert portal.login("alice").status_code == 303


def test_a_success_resets_the_failure_count(portal_app):
    portal = Portal(portal_app, portal_app.test_client())
    for _ in range(4):
        assert portal.login("alice", "guess").status_code == 401
    assert portal.login("alice").status_code == 303
    portal.post("/logout")
    for _ in range(4):
        assert portal.login("alice", "guess").status_code == 401
    assert portal.login("alice").status_code == 303


def test_the_admin_api_login_shares_the_lock(portal_app):
    client = portal_app.test_client()
    for _ in range(5):
        assert client.post("/api/v1/login", json={"username": "alice", "password": "guess"}).status_code == 401
    reply = client.post("/api/v1/login", json={"username": "alice", "password": PASSWORD})
    assert reply.status_code == 429 and reply.get_json()["error"] == "too_many_attempts"
    assert Portal(portal_app, portal_app.test_client()).login("alice").status_code == 429
    with portal_app.app_context():
        vias = [
            r.details["via"]
            for r in db.session.scalars(
                select(AdminAuditLog).where(AdminAuditLog.actor == "alice", AdminAuditLog.action.like("login.%"))
            )
        ]
    assert vias == ["api"] * 6  # five failures, one refusal recorded for the whole lockout (not the portal's too)


def test_an_unknown_or_absurdly_long_username_is_audited_as_a_placeholder_never_as_sent(portal_app):
    portal = Portal(portal_app, portal_app.test_client())
    assert portal.login("nobody-" + "x" * 100_000, "guess").status_code == 401
    assert portal.login("<script>alert(1)</script>", "guess").status_code == 401
    with portal_app.app_context():
        rows = db.session.scalars(select(AdminAuditLog).where(AdminAuditLog.action == "login.failure")).all()
        assert [row.actor for row in rows] == ["(unknown user)"] * 2
        assert "xxxx" not in str([row.details for row in rows]) and "script" not in str([row.details for row in rows])
