"""Sign-in, roles, CSRF and the security headers of every portal page.

Flask-Login keeps the signed-in user in Flask's cookie session (HttpOnly,
SameSite=Lax, Secure when served over TLS), and that cookie also carries the
secret of a server-side sign-in (janus.services.sign_ins) without which it
counts for nothing: signing out really ends a session. Flask-WTF checks a CSRF token on
every state-changing request: forms carry it as a hidden field, htmx requests
as the X-CSRFToken header (hx-headers on <body>). Both extensions are bound
here rather than in janus.extensions so `mcp-gateway -stdio` never imports them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, session
from flask_login import LoginManager, UserMixin, current_user
from flask_wtf.csrf import CSRFProtect

from janus.auth.response_headers import BASELINE_HEADERS
from janus.services import sign_ins

login_manager = LoginManager()
csrf = CSRFProtect()

# No inline script or style anywhere: htmx's indicator styles are off (meta htmx-config) for this.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, **dict(BASELINE_HEADERS)}


class PortalUser(UserMixin):
    def __init__(self, view: dict[str, Any]) -> None:
        self.id = view["id"]
        self.username = view["username"]
        self.role = view["role"]
        self.source = view.get("source", "local")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def init_app(app: Flask, exempt_blueprints: list) -> None:
    secure = bool(app.config.get("TLS_CERT_PATH")) or str(app.config.get("PUBLIC_URL") or "").startswith("https://")
    # Flask's defaults already hold these keys (SameSite None, Secure False), so set, not setdefault.
    for prefix in ("SESSION_COOKIE", "REMEMBER_COOKIE"):
        app.config[f"{prefix}_HTTPONLY"] = True
        app.config[f"{prefix}_SAMESITE"] = app.config.get(f"{prefix}_SAMESITE") or "Lax"
        app.config[f"{prefix}_SECURE"] = bool(app.config.get(f"{prefix}_SECURE")) or secure
    app.config["WTF_CSRF_TIME_LIMIT"] = None  # valid for the session's life, not an hour
    login_manager.init_app(app)
    login_manager.login_view = "portal.login"
    login_manager.login_message = "Sign in to continue."
    login_manager.session_protection = "basic"
    csrf.init_app(app)
    app.extensions["janus.csp"] = content_security_policy(app.config.get("OIDC_ISSUER") or "")
    app.after_request(_security_headers)
    # Bearer-token APIs carry no cookie, so cross-site requests cannot ride on one.
    for blueprint in exempt_blueprints:
        csrf.exempt(blueprint)


SIGN_IN_KEY = "sign_in"  # the cookie session's key holding the sign-in's secret (janus.services.sign_ins)


def sign_in_limits() -> sign_ins.Limits:
    return sign_ins.Limits.from_config(current_app.config)


def content_security_policy(issuer: str) -> str:
    """The CSP, with the IdP's origin in form-action when SSO is on.

    Chromium applies form-action to the redirects that follow a form post: the sign-out form's answer
    redirects to the IdP's end_session_endpoint, which 'self' alone would block.
    """
    if not issuer:
        return CONTENT_SECURITY_POLICY
    parts = urlsplit(issuer)
    origin = f"{parts.scheme}://{parts.netloc}"
    return CONTENT_SECURITY_POLICY.replace("form-action 'self'", f"form-action 'self' {origin}")


def _security_headers(response):
    """Every response Flask serves (portal, /apidocs, static files, JSON errors): no sniffing, no
    framing, no referrer leaks; HTML also gets the CSP (no inline script or style anywhere)."""
    csp = current_app.extensions.get("janus.csp", CONTENT_SECURITY_POLICY)
    for name, value in SECURITY_HEADERS.items():
        if name == "Content-Security-Policy":
            if response.mimetype == "text/html":
                response.headers.setdefault(name, csp)
        else:
            response.headers.setdefault(name, value)
    return response


@login_manager.user_loader
def _load_user(user_id: str) -> PortalUser | None:
    # The cookie names a user, but only a live server-side sign-in makes it count:
    # signed out, idle, expired, disabled or re-passworded users are strangers again.
    user = sign_ins.resolve(session.get(SIGN_IN_KEY), sign_in_limits())
    if user is None or user["id"] != user_id:
        return None
    return PortalUser(user)


def admin_required(view: Callable) -> Callable:
    """Viewers see everything but change nothing: the buttons are hidden and the server refuses."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not current_user.is_admin:
            abort(
                403,
                description=f"User {current_user.username!r} has role {current_user.role!r}; "
                "only admins may change the gateway.",
            )
        return view(*args, **kwargs)

    return wrapper


def safe_next(target: str | None) -> str | None:
    """Only same-site paths: an open redirect after sign-in would be a phishing aid."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target
