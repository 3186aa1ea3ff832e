"""Sign in and out: throttled, audited, and backed by a server-side sign-in."""

from __future__ import annotations

from flask import flash, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from janus.auth.client import client_address
from janus.extensions import db
from janus.portal.blueprint import bp
from janus.portal.rendering import redirect_to, render
from janus.portal.security import SIGN_IN_KEY, PortalUser, safe_next, sign_in_limits
from janus.portal.sso import end_session_url, public_base
from janus.services import admin_audit, oidc, sign_ins

BAD_CREDENTIALS = "Invalid username or password."
OIDC_ONLY = "Password sign-in is turned off on this gateway (OIDC_ONLY): sign in with SSO."


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated and request.method == "GET":
        return redirect_to(url_for("portal.dashboard"))
    error, status, retry_after = None, 200, None
    username = ""
    config = oidc.settings()
    if request.method == "POST" and config.only:
        error, status = OIDC_ONLY, 403
    elif request.method == "POST":
        username = request.form.get("username", "").strip()
        address = client_address()
        try:
            user = sign_ins.check_credentials(
                username, request.form.get("password", ""), sign_in_limits(), via="portal", remote_addr=address
            )
        except sign_ins.TooManyAttempts as exc:
            user, error, status, retry_after = None, exc.message, exc.status, exc.retry_after
        if user is not None:
            # A new server-side secret at every sign-in: a cookie planted before it (fixation) is worth nothing.
            session[SIGN_IN_KEY] = sign_ins.start(
                user["id"], sign_in_limits(), remote_addr=address, user_agent=request.user_agent.string
            )
            login_user(PortalUser(user))
            return redirect_to(safe_next(request.args.get("next")) or url_for("portal.dashboard"))
        if error is None:
            error, status = BAD_CREDENTIALS, 401
    response = render(
        "portal/auth/login.html",
        "login_form",
        status=status,
        error=error,
        username=username,
        sso=config.enabled,
        password_form=not config.only,
        next=safe_next(request.args.get("next")),
    )
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


@bp.post("/logout")
@login_required
def logout():
    sso_user = getattr(current_user, "source", "local") == "sso"
    username, user_id = current_user.username, current_user.id
    if sign_ins.end(session.get(SIGN_IN_KEY)):
        # As the admin API's logout: the admin audit log shows when a sign-in ended, not only when it began.
        admin_audit.record(username, "logout", "user", user_id, via="portal", remote_addr=client_address())
        db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.")
    login_page = url_for("portal.login")
    # An SSO user is also signed out at the IdP when it offers RP-initiated logout; it sends them back here.
    target = end_session_url(public_base() + login_page) if sso_user else None
    return redirect_to(target or login_page)
