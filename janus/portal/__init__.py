"""The portal: server-rendered pages and htmx fragments for admins (Jinja, no SPA framework).

Every action goes through janus.services, exactly like the admin API and mcp-cli.
"""

from __future__ import annotations

import logging

from flask import Flask, g, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from janus.portal import (  # noqa: F401  (each module adds its pages' routes)
    audit,
    auth,
    connections,
    dashboard,
    guides,
    imports,
    openapi,
    sso,
    telemetry,
    tokens,
    tools,
    tools_shaping,
    users,
    vault,
)
from janus.portal.blueprint import bp
from janus.portal.rendering import is_htmx, redirect_to, render
from janus.portal.security import login_manager
from janus.services.errors import DatabaseUnavailable, ServiceError, database_unavailable, unavailable_reason

__all__ = ["bp", "init_app"]
log = logging.getLogger(__name__)


def init_app(app: Flask, csrf_exempt: list) -> None:
    from janus.portal import security

    app.before_request(imports.allow_large_description)  # before CSRF protection reads the form
    security.init_app(app, csrf_exempt)
    app.register_blueprint(bp)


@bp.after_request
def _no_store(response):
    # The security headers are app-wide (security.init_app); portal pages also must not be cached.
    if current_user.is_authenticated:
        response.headers.setdefault("Cache-Control", "no-store")  # pages show live, per-user data
    return response


@login_manager.unauthorized_handler
def _sign_in_first():
    target = url_for("portal.login", next=request.full_path.rstrip("?") if request.method == "GET" else None)
    if is_htmx():  # a fragment request: move the whole page to the login form
        response = redirect_to(target)
        response.status_code = 401
        return response
    response = redirect_to(target)
    response.status_code = 302
    return response


# The sidebar, in the reference's order; an entry shows once its page exists.
NAVIGATION = [
    ("portal.dashboard", "Dashboard"),
    ("portal.connections", "API Connections"),
    ("portal.tools", "MCP Tools"),
    ("portal.tokens", "Client Tokens"),
    ("portal.vault", "Security Vault"),
    ("portal.telemetry", "Telemetry"),
    ("portal.audit", "Audit Logs"),
    ("portal.openapi", "OpenAPI Reference"),
    ("portal.guides", "Guides"),
    ("portal.users", "Users"),
    ("portal.account", "My account"),
]
ADMIN_ONLY = {"portal.users"}


@bp.app_context_processor
def _portal_context():
    from flask import current_app

    views = current_app.view_functions
    admin = bool(getattr(current_user, "is_admin", False))
    navigation = [(e, label) for e, label in NAVIGATION if e in views and (admin or e not in ADMIN_ONLY)]
    return {"current_user": current_user, "navigation": navigation}


@bp.errorhandler(CSRFError)
def _csrf_failed(exc: CSRFError):
    return _error_page(400, "The form's security token is missing or expired. Reload the page and try again.")


@bp.errorhandler(ServiceError)
def _service_error(exc: ServiceError):
    response = _error_page(exc.status, exc.message)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


@bp.errorhandler(DBAPIError)
def _database_error(exc: DBAPIError):
    if not database_unavailable(exc):
        return _unexpected(exc)
    log.warning(
        "portal %s %s answered 503: the database is unavailable (%s)",
        request.method,
        request.path,
        unavailable_reason(exc),
    )
    # The page is drawn for nobody in particular: drawing it for the signed-in user would look them up
    # in the database again (Flask-Login keeps the current user in g._login_user).
    g._login_user = login_manager.anonymous_user()
    return _service_error(DatabaseUnavailable())


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return _error_page(exc.code or 500, exc.description or exc.name)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    log.error("portal error on %s %s", request.method, request.path, exc_info=exc)
    return _error_page(500, "An internal error occurred; see the gateway log.")


def _error_page(status: int, message: str):
    if not is_htmx():
        return render("portal/error.html", status=status, status_code=status, message=message)
    # A fragment request's error belongs to no field: show it in the page's alert area, never inside
    # the widget that asked (a stale row, a toggle, a delete link). portal.js moves it into the dialog
    # when one is open.
    response = render("portal/error.html", "error_alert", status=status, status_code=status, message=message)
    response.headers["HX-Retarget"] = "#alerts"
    response.headers["HX-Reswap"] = "innerHTML"
    return response
