"""The Users page (admin only) and My account: the same services as the admin API, SSO users protected."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from janus.extensions import db
from janus.models import AdminAuditLog, User
from janus.services import users as users_service
from janus.services.errors import Conflict
from tests.portal.conftest import PASSWORD, Portal


def _id(app, username: str) -> str:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.username == username))


def _sso_user(app, username: str = "sam") -> str:
    with app.app_context():
        user = User(
            username=username,
            password_hash=users_service.NO_PASSWORD,
            role="viewer",
            source="sso",
            oidc_subject=f"sub-{username}",
        )
        db.session.add(user)
        db.session.commit()
        return user.id


def test_the_users_page_lists_everyone_with_source_and_is_admin_only(admin, viewer):
    _sso_user(admin.app)
    page = admin.get("/users").get_data(as_text=True)
    for name in ("alice", "victor", "sam"):
        assert f'data-username="{name}"' in page
    assert ">sso<" in page and ">local<" in page and "no local password" in page
    assert 'href="/users"' in page  # in the navigation for admins
    assert viewer.get("/users").status_code == 403
    assert 'href="/users"' not in viewer.get("/tokens").get_data(as_text=True)


def test_an_admin_creates_a_local_user_and_bad_input_names_the_field(admin):
    refused = admin.post("/users", {"username": "no spaces", "password": "short", "role": "viewer"})
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "username may contain letters, digits" in text and "at least 12" in text
    assert "short" not in text.split('id="new-user-form"')[1].split("</form>")[0].replace("shorter", "")
    created = admin.post("/users", {"username": "nina", "password": "nina's long password", "role": "admin"})
    assert created.status_code == 303
    nina = Portal(admin.app, admin.app.test_client())
    assert nina.login("nina", "nina's long password").status_code == 303


def test_an_admin_changes_a_role_disables_enables_and_resets_a_password(admin):
    victor = _id(admin.app, "victor")
    assert admin.post(f"/users/{victor}/role", {"role": "admin"}).status_code == 303
    assert admin.post(f"/users/{victor}/toggle").status_code == 303
    with admin.app.app_context():
        user = db.session.get(User, victor)
        assert (user.role, user.enabled) == ("admin", False)
    assert admin.post(f"/users/{victor}/toggle").status_code == 303
    assert admin.post(f"/users/{victor}/password", {"password": "victor's new password"}).status_code == 303
    fresh = Portal(admin.app, admin.app.test_client())
    assert fresh.login("victor", PASSWORD).status_code == 401
    assert fresh.login("victor", "victor's new password").status_code == 303
    bad = admin.post(f"/users/{victor}/role", {"role": "root"})
    assert bad.status_code == 400 and "expected one of admin, viewer" in bad.get_data(as_text=True)


def test_an_sso_user_cannot_get_a_local_password_or_a_role_by_accident(admin):
    sam = _sso_user(admin.app)
    refused = admin.post(f"/users/{sam}/password", {"password": "a local password for sam"})
    assert refused.status_code == 409 and "signs in through single sign-on" in refused.get_data(as_text=True)
    role = admin.post(f"/users/{sam}/role", {"role": "admin"})
    assert role.status_code == 409 and "role follows the identity provider" in role.get_data(as_text=True)
    with admin.app.app_context():
        user = db.session.get(User, sam)
        assert (user.password_hash, user.role) == (users_service.NO_PASSWORD, "viewer")
    assert admin.post(f"/users/{sam}/toggle").status_code == 303  # disabling an SSO user is allowed


def test_an_admin_deletes_a_user_but_not_the_last_admin(admin):
    victor = _id(admin.app, "victor")
    assert admin.post(f"/users/{victor}/delete").status_code == 303
    alice = _id(admin.app, "alice")
    last = admin.post(f"/users/{alice}/delete")
    assert last.status_code == 409 and "last enabled admin" in last.get_data(as_text=True)


def test_a_viewer_changes_their_own_password_and_stays_signed_in(viewer):
    page = viewer.get("/account").get_data(as_text=True)
    assert "Change your password" in page and "victor" in page
    wrong = viewer.post("/account", {"current_password": "not it at all", "password": "a new long password"})
    assert wrong.status_code == 422 and "current password is not right" in wrong.get_data(as_text=True)
    short = viewer.post("/account", {"current_password": PASSWORD, "password": "short"})
    assert short.status_code == 422 and "at least 12" in short.get_data(as_text=True)
    changed = viewer.post("/account", {"current_password": PASSWORD, "password": "a new long password"})
    assert changed.status_code == 303
    assert viewer.get("/account").status_code == 200  # this sign-in carried on
    fresh = Portal(viewer.app, viewer.app.test_client())
    assert fresh.login("victor", "a new long password").status_code == 303
    with viewer.app.app_context():
        rows = db.session.scalars(select(AdminAuditLog).where(AdminAuditLog.action == "user.update")).all()
        assert rows[-1].actor == "victor" and "a new long password" not in str(rows[-1].details)


def test_an_sso_user_has_no_local_password_to_change(portal_app):
    sam = _sso_user(portal_app)
    with portal_app.app_context(), pytest.raises(Conflict, match="signs in through single sign-on"):
        users_service.change_own_password(sam, "x", "a new long password")


def test_break_glass_set_password_refuses_an_sso_user(portal_app):
    sam = _sso_user(portal_app)
    with portal_app.app_context(), pytest.raises(Conflict, match="no local password"):
        users_service.reset_password("cli", "sam", "a break glass password")
    with portal_app.app_context():
        assert db.session.get(User, sam).password_hash == users_service.NO_PASSWORD
