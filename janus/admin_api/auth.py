"""POST /api/v1/login: username and password in, a session JWT out; every attempt is audited."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Response, current_app, jsonify, request

from janus.admin_api import bp
from janus.admin_api._http import json_body
from janus.auth import session_jwt
from janus.auth.admin import Unauthorized
from janus.services import sign_ins
from janus.services._common import iso, only, text
from janus.services.errors import ValidationError

BAD_CREDENTIALS = "wrong username or password, or the user is disabled"


@bp.post("/login")
def login() -> Response:
    data = json_body()
    only(data, {"username", "password"})
    username = text(data, "username", required=True, max_len=150)
    password = data.get("password")
    if not isinstance(password, str) or not password:
        raise ValidationError("password is required")
    cfg = current_app.config
    # Audited and throttled exactly like a portal sign-in (janus.services.sign_ins).
    user = sign_ins.check_credentials(username, password, sign_ins.Limits.from_config(cfg), via="api",
                                      remote_addr=request.remote_addr)
    if user is None:
        # One answer for every cause, so the API does not tell which usernames exist.
        raise Unauthorized(BAD_CREDENTIALS)
    token, expires = session_jwt.issue(cfg["JWT_SECRET"], user["username"], cfg["SESSION_JWT_HOURS"])
    return jsonify(token=token, expires_at=iso(datetime.fromtimestamp(expires, timezone.utc)), user=user)
