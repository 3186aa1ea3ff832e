"""Single sign-on for the portal: OIDC authorization code flow with PKCE, state and nonce (Authlib's Flask client).

`GET /login/sso` sends the browser to the IdP with a fresh state, nonce and PKCE verifier (kept in the
signed cookie session by Authlib); the IdP sends it back to exactly PUBLIC_URL + `/login/sso/callback`,
where the state is checked, the code exchanged (with the verifier and the client secret), and the ID
token validated by janus.services.oidc (signature, iss, aud, exp, nonce). janus.services.sso then maps
the groups to a role and makes or updates the user; the sign-in itself is the same server-side one as
a password sign-in. Every refusal is a page that says why, an audit row, and no session.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any
from urllib.parse import urlencode

from flask import Flask, current_app, request, session, url_for
from flask_login import login_user

from janus.auth.client import client_address
from janus.portal.blueprint import bp
from janus.portal.rendering import redirect_to, render
from janus.portal.security import SIGN_IN_KEY, PortalUser, safe_next, sign_in_limits
from janus.services import oidc, sign_ins, sso
from janus.services.errors import ServiceError

log = logging.getLogger(__name__)
NEXT_KEY = "sso_next"
VIA = "sso"
_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def public_base() -> str:
    """PUBLIC_URL when set (behind a proxy the IdP must see the public name), else this request's origin."""
    configured = str(current_app.config.get("PUBLIC_URL") or "").rstrip("/")
    return configured or request.host_url.rstrip("/")


def redirect_uri() -> str:
    return public_base() + url_for("portal.sso_callback")


def _client(app: Flask) -> Any:
    """Authlib's Flask client for this app's IdP, registered once per app and process."""
    found = app.extensions.get("janus.oidc_client")
    if found is not None:
        return found
    from authlib.integrations.flask_client import OAuth

    config = oidc.settings(app)
    registry = OAuth()
    registry.init_app(app)
    found = registry.register(
        "janus_oidc",
        client_id=config.client_id,
        client_secret=config.client_secret or None,
        server_metadata_url=config.discovery_url,
        client_kwargs={"scope": config.scopes, "code_challenge_method": "S256", "default_timeout": config.timeout},
    )
    app.extensions["janus.oidc_client"] = found
    return found


def _refused(error: ServiceError) -> Any:
    return render(
        "portal/auth/refused.html",
        status=error.status,
        message=error.message,
        unavailable=isinstance(error, oidc.SsoUnavailable),
    )


@bp.get("/login/sso")
def sso_start():
    config = oidc.settings()
    if not config.enabled:
        return _refused(oidc.SsoNotConfigured())
    session[NEXT_KEY] = safe_next(request.args.get("next")) or ""
    try:
        # Authlib draws the state, the nonce and the PKCE verifier and keeps them in the cookie session.
        return _client(current_app._get_current_object()).authorize_redirect(  # type: ignore[attr-defined]
            redirect_uri(), nonce=secrets.token_urlsafe(24)
        )
    except Exception:
        log.exception("single sign-on: the identity provider's discovery document could not be read")
        return _refused(
            oidc.SsoUnavailable(f"the identity provider at {config.issuer} cannot be reached; try again later")
        )


@bp.get("/login/sso/callback")
def sso_callback():
    config = oidc.settings()
    if not config.enabled:
        return _refused(oidc.SsoNotConfigured())
    address = client_address()
    try:
        claims = _complete(config, address)
        user = sso.sign_in(claims, config, via=VIA, remote_addr=address)
    except ServiceError as error:
        return _refused(error)
    target = safe_next(session.pop(NEXT_KEY, None)) or url_for("portal.dashboard")
    # A new server-side secret at every sign-in, as for a password sign-in.
    session[SIGN_IN_KEY] = sign_ins.start(
        user["id"], sign_in_limits(), remote_addr=address, user_agent=request.user_agent.string
    )
    login_user(PortalUser(user))
    return redirect_to(target)


def _complete(config: oidc.Settings, address: str) -> dict[str, Any]:
    """The validated claims of this callback; an audited SsoRefused (or SsoUnavailable) otherwise."""
    from authlib.integrations.base_client import OAuthError

    error = request.args.get("error")
    if error:
        code = error if _ERROR_CODE.fullmatch(error) else "error"
        raise sso.record_refusal(f"the identity provider did not sign you in ({code})", via=VIA, remote_addr=address)
    client = _client(current_app._get_current_object())  # type: ignore[attr-defined]
    state = request.args.get("state") or ""
    state_data = client.framework.get_state_data(session, state) if state else None
    if state:
        client.framework.clear_state_data(session, state)
    if not state_data or not state_data.get("nonce") or not state_data.get("code_verifier"):
        raise sso.record_refusal(
            "this sign-in response does not belong to a sign-in started in this browser (state mismatch); "
            "start again from the sign-in page",
            via=VIA,
            remote_addr=address,
        )
    auth_code = request.args.get("code")
    if not auth_code:
        raise sso.record_refusal("the identity provider sent no authorization code", via=VIA, remote_addr=address)
    try:
        token = client.fetch_access_token(
            code=auth_code, redirect_uri=state_data["redirect_uri"], code_verifier=state_data["code_verifier"]
        )
    except OAuthError as exc:
        reason = exc.error if isinstance(exc.error, str) and _ERROR_CODE.fullmatch(exc.error) else "error"
        raise sso.record_refusal(
            f"the identity provider refused to exchange the authorization code ({reason})", via=VIA, remote_addr=address
        ) from None
    except Exception:
        log.exception("single sign-on: the token request to the identity provider failed")
        raise oidc.SsoUnavailable("the identity provider's token endpoint cannot be reached; try again later") from None
    provider = oidc.provider()
    try:
        claims = provider.validate_id_token(
            token.get("id_token"), nonce=state_data["nonce"], audiences=(config.client_id,)
        )
    except oidc.SsoRefused as exc:
        raise sso.record_refusal(exc.message, via=VIA, remote_addr=address) from None
    return with_userinfo_groups(provider, claims, config, token.get("access_token"))


def with_userinfo_groups(
    provider: oidc.Provider, claims: dict[str, Any], config: oidc.Settings, access_token: Any
) -> dict[str, Any]:
    """Some IdPs put the groups only in userinfo: take them from there, for the same subject only."""
    if config.groups_claim in claims or not isinstance(access_token, str):
        return claims
    info = provider.userinfo(access_token)
    if info.get("sub") == claims["sub"] and config.groups_claim in info:
        return {**claims, config.groups_claim: info[config.groups_claim]}
    return claims


def end_session_url(post_logout: str) -> str | None:
    """The IdP's RP-initiated logout URL, when its discovery document lists an end_session_endpoint."""
    config = oidc.settings()
    if not config.enabled:
        return None
    try:
        endpoint = oidc.provider().metadata().get("end_session_endpoint")
    except ServiceError:
        log.warning("single sign-on: the identity provider is unreachable; signed out of Janus only")
        return None
    if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
        return None
    query = urlencode({"client_id": config.client_id, "post_logout_redirect_uri": post_logout})
    return endpoint + ("&" if "?" in endpoint else "?") + query
