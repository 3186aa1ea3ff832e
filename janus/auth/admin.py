"""Request guards for the admin API: session JWT in, JSON 401/403 out."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import current_app, g, request

from janus.auth.session_jwt import InvalidSession, verify
from janus.services import sign_ins
from janus.services.errors import Forbidden, ServiceError


class Unauthorized(ServiceError):
    status = 401
    error = "unauthorized"


SESSION_ENDED = "the session has ended (logged out, new password, user disabled or deleted); log in again"


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("log in first: POST /api/v1/login, then send 'Authorization: Bearer <session token>'")
    return token.strip()


def session_claims() -> dict[str, Any]:
    """The verified claims of the request's session token (signature and expiry only)."""
    try:
        return verify(current_app.config["JWT_SECRET"], bearer_token())
    except InvalidSession as exc:
        raise Unauthorized(str(exc)) from None


def current_user() -> dict[str, Any]:
    claims = session_claims()
    # The token points at a server-side sign-in of one user id at one credential version.
    user = sign_ins.resolve_api(claims["sid"], claims["sub"], claims["cv"])
    if user is None:
        raise Unauthorized(SESSION_ENDED)
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
