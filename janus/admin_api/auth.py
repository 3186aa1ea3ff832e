"""POST /api/v1/login and /api/v1/logout: a session token in, out; every attempt is audited and throttled."""

from __future__ import annotations

from flask import Response, current_app, jsonify, request

from janus.admin_api._http import json_body, no_content
from janus.admin_api.blueprint import bp
from janus.auth import session_jwt
from janus.auth.admin import Unauthorized, session_claims
from janus.auth.client import client_address
from janus.extensions import db
from janus.schemas.auth import LoginRequest, SsoLoginRequest
from janus.services import admin_audit, oidc, sign_ins, sso
from janus.services._common import iso, validated
from janus.services.errors import Forbidden

BAD_CREDENTIALS = "wrong username or password, or the user is disabled"
OIDC_ONLY = "password sign-in is turned off on this gateway (OIDC_ONLY): use mcp-cli login --sso"


@bp.post("/login")
def login() -> Response:
    data = json_body()
    fields = validated(LoginRequest, data)
    if oidc.settings().only:
        raise Forbidden(OIDC_ONLY)
    username, password = fields["username"], fields["password"]
    limits = sign_ins.Limits.from_config(current_app.config)
    address = client_address()
    # Audited and throttled exactly like a portal sign-in (janus.services.sign_ins).
    user = sign_ins.check_credentials(username, password, limits, via="api", remote_addr=address)
    if user is None:
        # One answer for every cause, so the API does not tell which usernames exist.
        raise Unauthorized(BAD_CREDENTIALS)
    return _session_for(user, limits, address)


def _session_for(user: dict, limits: sign_ins.Limits, address: str) -> Response:
    cfg = current_app.config
    sign_in = sign_ins.start_api(user["id"], limits, remote_addr=address, user_agent=request.user_agent.string)
    token, _ = session_jwt.issue(
        cfg["JWT_SECRET"],
        user_id=sign_in.user_id,
        sid=sign_in.sid,
        credential_version=sign_in.credential_version,
        hours=limits.api_session_hours,
    )
    return jsonify(token=token, expires_at=iso(sign_in.expires_at), user=user)


@bp.get("/login/sso")
def sso_settings() -> Response:
    """What `mcp-cli login --sso` needs to run the device grant at the IdP itself: public values only."""
    config = oidc.settings()
    if not config.enabled:
        raise oidc.SsoNotConfigured()
    return jsonify(issuer=config.issuer, client_id=config.cli_client_id, scope=config.scopes, oidc_only=config.only)


@bp.post("/login/sso")
def sso_login() -> Response:
    """An IdP ID token (from the device grant) in, the gateway's usual session token out; same roles as the portal."""
    config = oidc.settings()
    if not config.enabled:
        raise oidc.SsoNotConfigured()
    fields = validated(SsoLoginRequest, json_body())
    address = client_address()
    limits = sign_ins.Limits.from_config(current_app.config)
    # The same per-address throttle as a password sign-in, before any key is fetched or token checked.
    wait = sign_ins.guard().admit(address, limits.rate_per_ip)
    if wait:
        raise sign_ins.TooManyAttempts(
            f"Too many sign-in attempts from this address; try again in {wait} seconds.", retry_after=wait
        )
    provider = oidc.provider()
    try:
        claims = provider.validate_id_token(fields["id_token"], nonce=None, audiences=config.audiences)
    except oidc.SsoRefused as exc:
        raise sso.record_refusal(exc.message, via=SSO_CLI, remote_addr=address) from None
    if config.groups_claim not in claims and fields.get("access_token"):
        info = provider.userinfo(fields["access_token"])
        if info.get("sub") == claims["sub"] and config.groups_claim in info:
            claims[config.groups_claim] = info[config.groups_claim]
    user = sso.sign_in(claims, config, via=SSO_CLI, remote_addr=address)
    return _session_for(user, limits, address)


SSO_CLI = "sso-cli"


@bp.post("/logout")
def logout() -> Response:
    """End the session of the token sent: 204, also when it had already ended (logging out twice is fine)."""
    claims = session_claims()  # a forged or expired token is still refused with 401
    user = sign_ins.resolve_api(claims["sid"], claims["sub"], claims["cv"])
    if sign_ins.end(claims["sid"], sign_ins.API) and user is not None:
        admin_audit.record(user["username"], "logout", "user", user["id"], via="api", remote_addr=client_address())
        db.session.commit()
    return no_content()
