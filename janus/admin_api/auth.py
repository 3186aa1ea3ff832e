"""POST /api/v1/login: username and password in, a session JWT out; every attempt is audited."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Response, current_app, jsonify, request

from janus.admin_api import bp
from janus.admin_api._http import json_body
from janus.auth import session_jwt
from janus.auth.admin import Unauthorized
from janus.extensions import db
from janus.services import admin_audit
from janus.services import users as users_service
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
    user = users_service.authenticate(username, password)
    if user is None:
        _audit(username, "login.failure", None)
        # One answer for every cause, so the API does not tell which usernames exist.
        raise Unauthorized(BAD_CREDENTIALS)
    cfg = current_app.config
    token, expires = session_jwt.issue(cfg["JWT_SECRET"], user["username"], cfg["SESSION_JWT_HOURS"])
    _audit(user["username"], "login.success", user["id"])
    return jsonify(token=token, expires_at=iso(datetime.fromtimestamp(expires, timezone.utc)), user=user)


def _audit(username: str, action: str, user_id: str | None) -> None:
    admin_audit.record(username, action, "user", user_id, remote_addr=request.remote_addr)
    db.session.commit()
