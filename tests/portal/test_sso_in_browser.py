"""Single sign-on in Debian's chromium: a real gunicorn+gevent gateway, the real local OIDC provider
(tests/support/oidc_provider.py), the whole redirect dance in the browser (screenshots in test-artifacts/)."""

from __future__ import annotations

import pytest

from tests.support.browser import browser_page, screenshot
from tests.support.oidc_provider import ADMINS, OTHERS, VIEWERS, OidcProvider
from tests.support.server import GatewayServer, listening_socket


@pytest.fixture(scope="module")
def idp():
    with OidcProvider() as provider:
        yield provider


def _gateway(tmp, idp, **extra) -> GatewayServer:
    listener = listening_socket("127.0.0.1")  # the IdP's redirect URI names the port before the gateway starts
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    return GatewayServer(
        str(tmp / "gateway.db"),
        listener=listener,
        VAULT_LOCAL_PATH=str(tmp / "secrets.json"),
        WEB_CONCURRENCY="1",
        **idp.gateway_settings(url, **extra),
    ).start()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, idp):
    server = _gateway(tmp_path_factory.mktemp("sso-browser"), idp)
    yield server
    server.stop()


def sso_sign_in(page, base: str, path: str = "/tokens") -> None:
    page.goto(base + path)
    page.get_by_role("link", name="Sign in with SSO").click()


def only_gateway_and_idp(session, base: str, idp) -> None:
    stray = [u for u in session.requests if not u.startswith((base + "/", idp.issuer + "/"))]
    assert stray == [], stray
    assert session.console_errors == [] and session.page_errors == []


def test_an_admin_group_member_signs_in_sees_their_role_and_the_users_page(gateway, idp):
    idp.next_user = idp.person("ada", groups=[ADMINS])
    base = gateway.url
    with browser_page() as session:
        page = session.page
        sso_sign_in(page, base)
        page.wait_for_url(base + "/tokens")
        who = page.locator(".who")
        assert "ada" in who.inner_text() and "admin" in who.inner_text()
        page.get_by_role("link", name="+ Issue Client Token").wait_for()
        page.get_by_role("link", name="Users", exact=True).click()
        row = page.locator('tr[data-username="ada"]')
        assert "sso" in row.inner_text() and "from the IdP's groups" in row.inner_text()
        assert "no local password" in row.inner_text()
        screenshot(page, "portal-users-sso")
        only_gateway_and_idp(session, base, idp)
    request = idp.authorization_requests[-1]
    assert request["code_challenge_method"] == "S256" and request["redirect_uri"] == base + "/login/sso/callback"


def test_a_viewer_group_member_is_a_viewer_and_the_server_enforces_it(gateway, idp):
    idp.next_user = idp.person("vic", groups=[VIEWERS])
    base = gateway.url
    with browser_page() as session:
        page = session.page
        sso_sign_in(page, base)
        page.wait_for_url(base + "/tokens")
        assert "viewer" in page.locator(".who").inner_text()
        assert page.get_by_role("link", name="+ Issue Client Token").count() == 0
        assert page.get_by_role("link", name="Users", exact=True).count() == 0
        response = page.goto(base + "/users")
        assert response.status == 403
        response = page.goto(base + "/tokens/new")
        assert response.status == 403
        session.console_errors.clear()  # the two 403s above, asked for on purpose
        page.goto(base + "/account")
        assert "no local password to change" in page.locator("#account-sso").inner_text()
        only_gateway_and_idp(session, base, idp)


def test_a_person_in_no_group_is_refused_with_a_clear_page(gateway, idp):
    idp.next_user = idp.person("olaf", groups=[OTHERS])
    base = gateway.url
    with browser_page() as session:
        page = session.page
        sso_sign_in(page, base)
        page.get_by_role("heading", name="Sign-in refused").wait_for()
        assert "none of the groups" in page.locator("#refusal").inner_text()
        screenshot(page, "portal-sso-refused")
        session.console_errors.clear()  # the refusal page's own 403
        page.goto(base + "/tokens")
        page.wait_for_url(base + "/login?next=/tokens")  # still signed out
        only_gateway_and_idp(session, base, idp)


def test_sign_out_ends_the_portal_session_and_the_idp_session(gateway, idp):
    idp.next_user = idp.person("ada", groups=[ADMINS])
    base = gateway.url
    before = len(idp.end_session_requests)
    with browser_page() as session:
        page = session.page
        sso_sign_in(page, base)
        page.wait_for_url(base + "/tokens")
        page.get_by_role("button", name="Logout").click()
        page.wait_for_url(base + "/login")
        assert len(idp.end_session_requests) == before + 1
        assert idp.end_session_requests[-1]["post_logout_redirect_uri"] == base + "/login"
        page.goto(base + "/tokens")
        page.wait_for_url(base + "/login?next=/tokens")
        only_gateway_and_idp(session, base, idp)


def test_oidc_only_hides_the_password_form(tmp_path, idp):
    server = _gateway(tmp_path, idp, OIDC_ONLY="true")
    try:
        with browser_page() as session:
            page = session.page
            page.goto(server.url + "/login")
            page.get_by_role("link", name="Sign in with SSO").wait_for()
            assert page.get_by_label("Password").count() == 0 and page.get_by_label("Username").count() == 0
            screenshot(page, "portal-login-oidc-only")
            idp.next_user = idp.person("ada", groups=[ADMINS])
            page.get_by_role("link", name="Sign in with SSO").click()
            page.wait_for_url(server.url + "/")
            assert "ada" in page.locator(".who").inner_text()
    finally:
        server.stop()
