"""POST /api/v1/login and /api/v1/logout: a session token in, out; every attempt is audited and throttled."""

from __future__ import annotations

from flask import Response, current_app, jsonify, request

from janus.admin_api._http import json_body, no_content
from janus.admin_api.blueprint import bp
from janus.auth import session_jwt
from janus.auth.admin import Unauthorized, session_claims
from janus.auth.client import client_address
from janus.extensions import db
from janus.schemas.auth import LoginRequest
from janus.services import admin_audit, sign_ins
from janus.services._common import iso, validated

BAD_CREDENTIALS = "wrong username or password, or the user is disabled"


@bp.post("/login")
def login() -> Response:
    data = json_body()
    fields = validated(LoginRequest, data)
    username, password = fields["username"], fields["password"]
    cfg = current_app.config
    limits = sign_ins.Limits.from_config(cfg)
    address = client_address()
    # Audited and throttled exactly like a portal sign-in (janus.services.sign_ins).
    user = sign_ins.check_credentials(username, password, limits, via="api", remote_addr=address)
    if user is None:
        # One answer for every cause, so the API does not tell which usernames exist.
        raise Unauthorized(BAD_CREDENTIALS)
    sign_in = sign_ins.start_api(user["id"], limits, remote_addr=address, user_agent=request.user_agent.string)
    token, _ = session_jwt.issue(
        cfg["JWT_SECRET"],
        user_id=sign_in.user_id,
        sid=sign_in.sid,
        credential_version=sign_in.credential_version,
        hours=limits.api_session_hours,
    )
    return jsonify(token=token, expires_at=iso(sign_in.expires_at), user=user)


@bp.post("/logout")
def logout() -> Response:
    """End the session of the token sent: 204, also when it had already ended (logging out twice is fine)."""
    claims = session_claims()  # a forged or expired token is still refused with 401
    user = sign_ins.resolve_api(claims["sid"], claims["sub"], claims["cv"])
    if sign_ins.end(claims["sid"], sign_ins.API) and user is not None:
        admin_audit.record(user["username"], "logout", "user", user["id"], via="api", remote_addr=client_address())
        db.session.commit()
    return no_content()
