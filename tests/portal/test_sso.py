"""Portal single sign-on against a real OIDC provider on 127.0.0.1 (tests/support/oidc_provider.py).

The gateway app runs in-process (Flask's test client plays the browser); the provider is a real
HTTP server the gateway talks to for discovery, keys and the code exchange. Every spoiled ID token
and every mismatch is refused with a page that says why, an audit row, and no session.
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from janus.extensions import db
from janus.models import AdminAuditLog, PortalSession, User
from janus.services import users as users_service
from tests.conftest import make_app
from tests.portal.conftest import CSRF
from tests.support.oidc_provider import ADMINS, OTHERS, PORTAL_CLIENT_SECRET, VIEWERS, OidcProvider

GATEWAY = "http://janus.test"  # the test client's origin; PUBLIC_URL makes the redirect URI exact


@pytest.fixture(scope="module")
def idp():
    with OidcProvider() as provider:
        yield provider


def _app(tmp_path, idp, **extra):
    from janus.services.bootstrap import ensure_schema

    app = make_app(
        {"DATABASE_PATH": str(tmp_path / "janus.db")},
        VAULT_LOCAL_PATH=str(tmp_path / "secrets.json"),
        **idp.gateway_settings(GATEWAY),
        **extra,
    )
    with app.app_context():
        ensure_schema()
    return app


@pytest.fixture
def app(tmp_path, idp):
    idp.spoil_next, idp.sign_next_with_impostor_key, idp.deny_next = {}, False, False
    yield _app(tmp_path, idp)


def start(client):
    """Press "Sign in with SSO": the gateway's redirect to the IdP's authorization endpoint."""
    response = client.get("/login/sso")
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def at_idp(authorize_url: str) -> str:
    """The person signs in at the IdP, which sends the browser back to the gateway's callback."""
    response = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    target = response.headers["Location"]
    assert target.startswith(GATEWAY + "/login/sso/callback?")
    return target[len(GATEWAY) :]


def sign_in(client):
    return client.get(at_idp(start(client)))


def audit(app, action: str) -> list[AdminAuditLog]:
    with app.app_context():
        rows = list(db.session.scalars(select(AdminAuditLog).where(AdminAuditLog.action == action)))
        db.session.expunge_all()
        return rows


def signed_in(client) -> bool:
    return client.get("/tokens").status_code == 200


def test_the_authorization_request_has_pkce_state_nonce_and_the_exact_redirect_uri(app, idp):
    url = start(app.test_client())
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith(idp.issuer + "/authorize?")
    assert query["client_id"] == "janus-portal" and query["response_type"] == "code"
    assert query["redirect_uri"] == GATEWAY + "/login/sso/callback"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) >= 43
    assert len(query["state"]) >= 20 and len(query["nonce"]) >= 20
    assert "openid" in query["scope"].split()


def test_an_admin_group_member_signs_in_just_in_time_as_admin(app, idp):
    idp.next_user = idp.person("ada", groups=[ADMINS, OTHERS])
    client = app.test_client()
    response = sign_in(client)
    assert response.status_code == 303 and response.headers["Location"] == "/"
    page = client.get("/tokens").get_data(as_text=True)
    assert "ada" in page and "admin" in page
    # The code exchange carried the PKCE verifier and authenticated the client.
    assert idp.token_requests[-1]["code_verifier"]
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "ada"))
        assert (user.source, user.role, user.oidc_subject) == ("sso", "admin", "sub-ada-0001")
    created = audit(app, "user.create")
    assert [r.actor for r in created] == ["ada"] and created[0].details["after"]["source"] == "sso"
    success = audit(app, "login.success")
    assert success[-1].actor == "ada" and success[-1].details["via"] == "sso"


def test_groups_only_in_userinfo_are_read_from_there(app, idp):
    idp.next_user = idp.person("uma", groups=[ADMINS])
    idp.spoil_next = {"groups": OidcProvider.DROP}
    client = app.test_client()
    assert sign_in(client).status_code == 303
    assert "admin" in client.get("/tokens").get_data(as_text=True)


def test_a_viewer_group_member_is_a_viewer_and_is_refused_changes(app, idp):
    idp.next_user = idp.person("vic", groups=[VIEWERS])
    client = app.test_client()
    assert sign_in(client).status_code == 303
    page = client.get("/tokens").get_data(as_text=True)
    assert "viewer" in page
    csrf = CSRF.search(page).group(1)
    refused = client.post("/tokens/new", data={"name": "x", "scopes": "*", "csrf_token": csrf})
    assert refused.status_code == 403


def test_a_person_in_no_group_is_refused_with_a_clear_page_and_no_session(app, idp):
    idp.next_user = idp.person("nobody", groups=[OTHERS])
    client = app.test_client()
    response = sign_in(client)
    assert response.status_code == 403
    text = response.get_data(as_text=True)
    assert "Sign-in refused" in text and "none of the groups" in text
    assert not signed_in(client)
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "nobody")) is None
        assert db.session.scalars(select(PortalSession)).all() == []
    refused = audit(app, "login.refused")
    assert refused[-1].actor == "nobody" and "none of the groups" in refused[-1].details["reason"]


def test_the_role_follows_the_idp_at_every_sign_in_and_the_change_is_audited(app, idp):
    idp.next_user = idp.person("rolf", groups=[ADMINS])
    assert sign_in(app.test_client()).status_code == 303
    idp.next_user = idp.person("rolf", groups=[VIEWERS])
    client = app.test_client()
    assert sign_in(client).status_code == 303
    assert "viewer" in client.get("/tokens").get_data(as_text=True)
    change = audit(app, "user.role_change")
    assert len(change) == 1
    assert (change[0].details["before"]["role"], change[0].details["after"]["role"]) == ("admin", "viewer")
    idp.next_user = idp.person("rolf", groups=[OTHERS])  # removed from every group: refused, not kept
    assert sign_in(app.test_client()).status_code == 403


@pytest.mark.parametrize(
    "spoil, reason",
    [
        ({"iss": "http://127.0.0.1:1"}, "another issuer"),
        ({"aud": ["someone-else"]}, "another client"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "expired"),
        ({"nonce": "not-the-nonce-of-this-sign-in"}, "nonce does not match"),
    ],
    ids=["wrong-issuer", "wrong-audience", "expired", "nonce-mismatch"],
)
def test_a_spoiled_id_token_is_refused_audited_and_gives_no_session(app, idp, spoil, reason):
    idp.next_user = idp.person("mallory", groups=[ADMINS])
    idp.spoil_next = dict(spoil)
    client = app.test_client()
    response = sign_in(client)
    assert response.status_code == 401
    assert reason in response.get_data(as_text=True)
    assert not signed_in(client)
    row = audit(app, "login.refused")[-1]
    assert reason in row.details["reason"] and row.details["via"] == "sso"
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "mallory")) is None


def test_an_id_token_with_a_bad_signature_is_refused(app, idp):
    idp.next_user = idp.person("mallory", groups=[ADMINS])
    idp.sign_next_with_impostor_key = True
    client = app.test_client()
    response = sign_in(client)
    assert response.status_code == 401
    assert "signature does not verify" in response.get_data(as_text=True)
    assert not signed_in(client)
    assert "signature" in audit(app, "login.refused")[-1].details["reason"]


def test_a_callback_for_a_sign_in_started_elsewhere_is_a_state_mismatch(app, idp):
    idp.next_user = idp.person("ada", groups=[ADMINS])
    callback = at_idp(start(app.test_client()))  # started in the attacker's browser
    victim = app.test_client()
    response = victim.get(callback)
    assert response.status_code == 401
    assert "state mismatch" in response.get_data(as_text=True)
    assert not signed_in(victim)
    assert "state mismatch" in audit(app, "login.refused")[-1].details["reason"]


def test_a_replayed_callback_is_refused(app, idp):
    idp.next_user = idp.person("ada", groups=[ADMINS])
    client = app.test_client()
    callback = at_idp(start(client))
    assert client.get(callback).status_code == 303
    client.post("/logout", data={"csrf_token": CSRF.search(client.get("/tokens").get_data(as_text=True)).group(1)})
    assert client.get(callback).status_code == 401  # the state was used up


def test_cancelling_at_the_idp_is_a_clear_refusal(app, idp):
    idp.deny_next = True
    client = app.test_client()
    response = sign_in(client)
    assert response.status_code == 401
    assert "did not sign you in (access_denied)" in response.get_data(as_text=True)


def test_an_idp_identity_never_takes_over_a_local_user_of_the_same_name(app, idp):
    with app.app_context():
        users_service.create_user("setup", {"username": "root", "password": "a local password 123", "role": "admin"})
    idp.next_user = idp.person("root", groups=[ADMINS])
    client = app.test_client()
    response = sign_in(client)
    assert response.status_code == 403
    assert "already belongs to another user" in response.get_data(as_text=True)
    assert not signed_in(client)


def test_a_disabled_sso_user_is_refused(app, idp):
    idp.next_user = idp.person("dora", groups=[VIEWERS])
    assert sign_in(app.test_client()).status_code == 303
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "dora"))
        users_service.update_user("admin", user.id, {"enabled": False})
    response = sign_in(app.test_client())
    assert response.status_code == 403 and "disabled" in response.get_data(as_text=True)


def test_sign_out_ends_the_session_and_goes_through_the_idps_end_session_endpoint(app, idp):
    idp.next_user = idp.person("ada", groups=[ADMINS])
    client = app.test_client()
    assert sign_in(client).status_code == 303
    csrf = CSRF.search(client.get("/tokens").get_data(as_text=True)).group(1)
    response = client.post("/logout", data={"csrf_token": csrf})
    assert response.status_code == 303
    target = response.headers["Location"]
    assert target.startswith(idp.issuer + "/logout?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
    assert query == {"client_id": "janus-portal", "post_logout_redirect_uri": GATEWAY + "/login"}
    assert not signed_in(client)


def test_the_csp_lets_the_sign_out_form_reach_the_idp(app, idp):
    csp = app.test_client().get("/login").headers["Content-Security-Policy"]
    assert f"form-action 'self' {idp.issuer}" in csp


def test_the_client_secret_and_tokens_never_reach_pages_or_the_audit_log(app, idp):
    idp.next_user = idp.person("ada", groups=[ADMINS])
    client = app.test_client()
    pages = [sign_in(client).get_data(as_text=True), client.get("/").get_data(as_text=True)]
    idp.spoil_next = {"aud": "other"}
    pages.append(sign_in(app.test_client()).get_data(as_text=True))
    with app.app_context():
        details = " ".join(str(r.details) for r in db.session.scalars(select(AdminAuditLog)))
    secrets = [PORTAL_CLIENT_SECRET, *idp.issued_id_tokens[-2:], *list(idp.access_tokens)[-2:]]
    for text in [*pages, details]:
        for secret in secrets:
            assert secret not in text


def test_oidc_only_hides_the_password_form_and_refuses_password_sign_ins(tmp_path, idp):
    app = _app(tmp_path, idp, OIDC_ONLY="true")
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    assert 'name="password"' not in page and "Sign in with SSO" in page
    csrf = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    refused = client.post(
        "/login", data={"username": "admin", "password": "admin-password-for-tests", "csrf_token": csrf}
    )
    assert refused.status_code == 403 and "OIDC_ONLY" in refused.get_data(as_text=True)
    api = client.post("/api/v1/login", json={"username": "admin", "password": "admin-password-for-tests"})
    assert api.status_code == 403 and "OIDC_ONLY" in api.get_json()["message"]


def test_without_sso_settings_the_sso_routes_say_so(sqlite_app):
    client = sqlite_app.test_client()
    assert client.get("/login/sso").status_code == 404
    assert "Sign in with SSO" not in client.get("/login").get_data(as_text=True)
    assert client.get("/api/v1/login/sso").status_code == 404
