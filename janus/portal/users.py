"""Users (admin only): list, create local users, change a role, disable/enable, reset a local password, delete;
and My account: every signed-in person changes their own local password.

The same services as the admin API and `mcp-cli user …` (janus.services.users): the same validation,
messages and audit rows. SSO users show their source; the service refuses them a local password and a
role (the IdP decides it at every sign-in), so neither can happen by accident here.
"""

from __future__ import annotations

from typing import Any

from flask import Response, flash, request, session, url_for
from flask_login import current_user, login_required, login_user

from janus.auth.client import client_address
from janus.portal.blueprint import bp
from janus.portal.forms import errors_of, texts
from janus.portal.rendering import redirect_to, render
from janus.portal.security import SIGN_IN_KEY, PortalUser, admin_required, sign_in_limits
from janus.schemas.user import ROLES
from janus.services import sign_ins
from janus.services import users as users_service
from janus.services.errors import ServiceError

TEMPLATE = "portal/users/index.html"
ACCOUNT_TEMPLATE = "portal/users/account.html"
FIELDS = ("username", "password", "role")


@bp.route("/users", methods=["GET", "POST"])
@admin_required
def users() -> Response:
    values: dict[str, Any] = {"role": "viewer"}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = texts(request.form, FIELDS)
        try:
            created = users_service.create_user(current_user.username, values)
        except ServiceError as exc:
            errors = errors_of(exc, FIELDS)
        else:
            flash(f"User {created['username']} created (role {created['role']}).")
            return redirect_to(url_for("portal.users"))
        values["password"] = ""  # never sent back
    return render(
        TEMPLATE,
        status=422 if errors else 200,
        users=users_service.list_users(),
        values=values,
        errors=errors,
        roles=ROLES,
    )


@bp.post("/users/<user_id>/role")
@admin_required
def user_role(user_id: str) -> Response:
    saved = users_service.update_user(current_user.username, user_id, {"role": request.form.get("role", "")})
    flash(f"User {saved['username']} now has role {saved['role']}.")
    return redirect_to(url_for("portal.users"))


@bp.post("/users/<user_id>/toggle")
@admin_required
def user_toggle(user_id: str) -> Response:
    user = users_service.view(users_service.get(user_id))
    saved = users_service.update_user(current_user.username, user_id, {"enabled": not user["enabled"]})
    state = "enabled" if saved["enabled"] else "disabled: their sign-ins ended"
    flash(f"User {saved['username']} {state}.")
    return redirect_to(url_for("portal.users"))


@bp.post("/users/<user_id>/password")
@admin_required
def user_password(user_id: str) -> Response:
    saved = users_service.update_user(current_user.username, user_id, {"password": request.form.get("password", "")})
    flash(f"New password set for {saved['username']}: their sign-ins ended.")
    return redirect_to(url_for("portal.users"))


@bp.post("/users/<user_id>/delete")
@admin_required
def user_delete(user_id: str) -> Response:
    user = users_service.view(users_service.get(user_id))
    users_service.delete_user(current_user.username, user_id)
    flash(f"User {user['username']} deleted.")
    return redirect_to(url_for("portal.users"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account() -> Response:
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            saved = users_service.change_own_password(
                current_user.id, request.form.get("current_password", ""), request.form.get("password", "")
            )
        except ServiceError as exc:
            errors = errors_of(exc, ("current_password", "password"))
        else:
            # A new password ends every sign-in of the user, this one too: start a fresh one here.
            session[SIGN_IN_KEY] = sign_ins.start(
                saved["id"], sign_in_limits(), remote_addr=client_address(), user_agent=request.user_agent.string
            )
            login_user(PortalUser(saved))
            flash("Your password was changed; your other sign-ins ended.")
            return redirect_to(url_for("portal.account"))
    return render(ACCOUNT_TEMPLATE, status=422 if errors else 200, errors=errors)
