"""Sign-in, roles, CSRF and headers of the portal."""

from __future__ import annotations

from janus.models import Connection
from tests.portal.conftest import Portal
from tests.support.catalog import add_connection


def test_pages_send_a_signed_out_browser_to_the_login_page_and_back_after_sign_in(portal_app):
    client = portal_app.test_client()
    reply = client.get("/connections")
    assert reply.status_code == 302 and reply.headers["Location"].startswith("/login?next=/connections")
    portal = Portal(portal_app, client)
    portal.client.get("/login?next=/connections")
    page = client.get("/login?next=/connections")
    from tests.portal.conftest import CSRF, PASSWORD

    token = CSRF.search(page.get_data(as_text=True)).group(1)
    reply = client.post(
        "/login?next=/connections", data={"username": "alice", "password": PASSWORD, "csrf_token": token}
    )
    assert reply.status_code == 303 and reply.headers["Location"] == "/connections"


def test_a_wrong_password_is_refused_with_one_message_for_every_cause(portal_app):
    portal = Portal(portal_app, portal_app.test_client())
    for username, password in [("alice", "wrong"), ("nobody", "whatever")]:
        reply = portal.login(username, password)
        assert reply.status_code == 401
        assert "Invalid username or password." in reply.get_data(as_text=True)
    assert portal.client.get("/").status_code == 302  # still signed out


def test_the_session_cookie_is_httponly_and_samesite_lax(portal_app):
    reply = Portal(portal_app, portal_app.test_client()).login("alice")
    cookie = reply.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie  # plain HTTP here


def test_an_open_redirect_after_sign_in_is_not_followed(portal_app):
    client = portal_app.test_client()
    from tests.portal.conftest import CSRF, PASSWORD

    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        page = client.get("/login")
        token = CSRF.search(page.get_data(as_text=True)).group(1)
        reply = client.post(
            "/login",
            query_string={"next": target},
            data={"username": "alice", "password": PASSWORD, "csrf_token": token},
        )
        assert reply.headers["Location"] == "/"
        client.post("/logout", data={"csrf_token": token})


def test_every_page_carries_the_security_headers(admin):
    for url in ("/login", "/", "/connections", "/connections/new"):
        headers = admin.get(url).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"


def test_a_change_without_the_csrf_token_is_refused_and_changes_nothing(admin):
    conn_id = add_connection(admin.app, "Bank", "http://127.0.0.1:9", "bank_")
    for headers in ({}, {"HX-Request": "true"}):
        reply = admin.client.post(f"/connections/{conn_id}/toggle", data={}, headers=headers)
        assert reply.status_code == 400 and "security token" in reply.get_data(as_text=True)
    reply = admin.client.post(f"/connections/{conn_id}/toggle", data={"csrf_token": "forged"})
    assert reply.status_code == 400
    with admin.app.app_context():
        from janus.extensions import db

        assert db.session.get(Connection, conn_id).enabled is True


def test_htmx_requests_may_carry_the_token_in_the_header(admin):
    conn_id = add_connection(admin.app, "Bank", "http://127.0.0.1:9", "bank_")
    reply = admin.client.post(
        f"/connections/{conn_id}/toggle",
        data={"enabled": "false", "confirmed": "1"},  # a confirmed disable (it asks first otherwise)
        headers={"HX-Request": "true", "X-CSRFToken": admin.csrf},
    )
    assert reply.status_code == 200 and "DISABLED" in reply.get_data(as_text=True)


def test_a_viewer_sees_no_change_buttons_and_the_server_refuses_changes(viewer):
    conn_id = add_connection(viewer.app, "Bank", "http://127.0.0.1:9", "bank_")
    page = viewer.get("/connections").get_data(as_text=True)
    assert "Bank" in page and "Connect New API" not in page and "Delete" not in page and "Disable" not in page
    for url in ("/connections/new", f"/connections/{conn_id}/toggle", f"/connections/{conn_id}/delete"):
        reply = viewer.post(url, {"name": "x", "base_url": "http://127.0.0.1:1"})
        assert reply.status_code == 403 and "only admins may change" in reply.get_data(as_text=True)
    assert viewer.get("/connections/new").status_code == 403
    with viewer.app.app_context():
        from janus.extensions import db

        assert db.session.get(Connection, conn_id).enabled is True


def test_logout_needs_a_post_with_the_token(admin):
    assert admin.client.get("/logout").status_code == 405
    reply = admin.post("/logout")
    assert reply.status_code == 303 and reply.headers["Location"] == "/login"
    assert admin.client.get("/").status_code == 302


def test_an_htmx_request_after_the_session_ended_moves_the_page_to_login(portal_app):
    reply = portal_app.test_client().get("/dashboard/health", headers={"HX-Request": "true"})
    assert reply.status_code == 401 and reply.headers["HX-Redirect"].startswith("/login")


def test_the_sso_button_appears_only_when_oidc_is_configured(portal_app):
    assert "Sign in with SSO" not in portal_app.test_client().get("/login").get_data(as_text=True)
    portal_app.config.update(OIDC_ISSUER="https://idp.example/realms/corp", OIDC_CLIENT_ID="janus")
    assert "Sign in with SSO" in portal_app.test_client().get("/login").get_data(as_text=True)


def test_an_htmx_error_goes_to_the_alert_area_not_into_the_widget_that_asked(admin):
    stale = admin.post("/connections/no-such-id/toggle", htmx=True, data={})
    assert stale.status_code == 404
    assert stale.headers["HX-Retarget"] == "#alerts" and stale.headers["HX-Reswap"] == "innerHTML"
    body = stale.get_data(as_text=True)
    assert 'class="alert alert-error" role="alert"' in body and "not found" in body and "<html" not in body
    page = admin.post("/connections/no-such-id/toggle", data={})  # without htmx: the whole error page
    assert page.status_code == 404 and "<html" in page.get_data(as_text=True) and "HX-Retarget" not in page.headers


def test_a_viewers_refused_htmx_change_is_announced_in_the_alert_area(viewer):
    reply = viewer.post("/connections/any/toggle", htmx=True, data={})
    assert reply.status_code == 403 and reply.headers["HX-Retarget"] == "#alerts"
    assert "only admins may change" in reply.get_data(as_text=True)


def test_a_database_outage_is_a_503_page_with_retry_after_not_a_500(admin, tmp_path):
    from janus.extensions import db

    with admin.app.app_context():
        db.session.remove()
        db.engine.dispose()
    (tmp_path / "janus.db").rename(tmp_path / "moved.db")
    tmp_path.joinpath("janus.db").mkdir()  # SQLite cannot open a directory: every connection fails
    page = admin.client.get("/")  # the signed-in session is looked up in the database
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "2"
    assert "database is unavailable right now" in page.get_data(as_text=True)
    with admin.app.app_context():
        db.session.remove()
        db.engine.dispose()
