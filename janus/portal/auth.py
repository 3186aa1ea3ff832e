"""Sign in and out."""
from __future__ import annotations

from flask import current_app, flash, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from janus.portal.blueprint import bp
from janus.portal.rendering import redirect_to, render
from janus.portal.security import PortalUser, safe_next
from janus.services import users as users_service


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated and request.method == "GET":
        return redirect_to(url_for("portal.dashboard"))
    error = None
    username = ""
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        user = users_service.authenticate(username, request.form.get("password", ""))
        if user is not None:
            login_user(PortalUser(user))
            return redirect_to(safe_next(request.args.get("next")) or url_for("portal.dashboard"))
        error = "Invalid username or password."
    return render("portal/auth/login.html", "login_form", status=401 if error else 200, error=error,
                  username=username, sso=bool(current_app.config.get("OIDC_ISSUER")))


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash("You are signed out.")
    return redirect_to(url_for("portal.login"))
