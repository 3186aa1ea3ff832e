"""Request guards for the admin API: session JWT in, JSON 401/403 out."""
from __future__ import annotations

import functools
from typing import Any, Callable

from flask import current_app, g, request

from janus.auth.session_jwt import InvalidSession, verify
from janus.services import users as users_service
from janus.services.errors import Forbidden, ServiceError


class Unauthorized(ServiceError):
    status = 401
    error = "unauthorized"


def current_user() -> dict[str, Any]:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("log in first: POST /api/v1/login, then send 'Authorization: Bearer <session token>'")
    try:
        claims = verify(current_app.config["JWT_SECRET"], token.strip())
    except InvalidSession as exc:
        raise Unauthorized(str(exc)) from None
    user = users_service.find_active(claims["sub"])
    if user is None:
        raise Unauthorized("the session's user no longer exists or is disabled")
    return user


def require(role: str = "viewer") -> Callable:
    """viewer: any signed-in user may read; admin: only admins may change things."""
    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            user = current_user()
            if role == "admin" and user["role"] != "admin":
                raise Forbidden(f"user {user['username']!r} has role {user['role']!r}; this needs role 'admin'")
            g.user = user
            return view(*args, **kwargs)
        return wrapper
    return decorator
