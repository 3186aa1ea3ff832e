"""Client Tokens (figures portal_client_tokens, portal_client_token_modal): list, issue, edit, enable/disable, revoke.

A token's value exists outside the client only in the one response that issues it: that response is
never cached (no-store), and no other page, log line or audit row carries it.
"""

from __future__ import annotations

from typing import Any

from flask import Response, flash, request, url_for
from flask_login import current_user, login_required

from janus.portal.blueprint import bp
from janus.portal.forms import checkbox, errors_of, texts, whole_number
from janus.portal.rendering import is_htmx, redirect_to, render
from janus.portal.security import admin_required
from janus.schemas import token as token_schema
from janus.services import tokens as tokens_service
from janus.services.errors import ServiceError

TEMPLATE = "portal/tokens/index.html"
LIST_TEMPLATE = "portal/tokens/_list.html"
FORM_TEMPLATE = "portal/tokens/form.html"
FIELDS = (
    "name",
    "token",
    "role",
    "scopes",
    "expires_at",
    "enabled",
    "cert_fingerprint",
    "cert_subject",
    "rate_per_second",
    "rate_burst",
)
PREVIEW_LIMIT = 50
PAGE_SIZE = 100  # token rows a page
LIST_FILTERS = ("q", "enabled", "sort")
SORTS = (
    ("", "Name"),
    ("-created_at", "Newest first"),
    ("created_at", "Oldest first"),
    ("-last_used_at", "Recently used"),
    ("expires_at", "Expiring soonest"),
)


@bp.get("/tokens")
@login_required
def tokens():
    """One page of tokens (PAGE_SIZE) by name, searched (`q`: name or scopes) and filtered in the database."""
    return render(TEMPLATE, "token_list", **_listed(request.args))


@bp.route("/tokens/new", methods=["GET", "POST"])
@admin_required
def token_new() -> Response:
    values: dict[str, Any] = {"role": "developer", "enabled": True}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = texts(request.form, FIELDS)
        try:
            issued, raw = tokens_service.create_token(current_user.username, _submitted(with_token=True))
        except ServiceError as exc:
            errors = errors_of(exc, FIELDS)
        else:
            return _issued(issued, raw)
        values["token"] = ""  # a pasted value is a secret too: never sent back, not even in a refusal
    return _form(values, errors, None)


@bp.route("/tokens/<token_id>/edit", methods=["GET", "POST"])
@admin_required
def token_edit(token_id: str):
    current = tokens_service.view(tokens_service.get(token_id))
    values: dict[str, Any] = {**current, "scopes": ",".join(current["scopes"])}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = texts(request.form, FIELDS)
        try:
            saved = tokens_service.update_token(current_user.username, token_id, _submitted(with_token=False))
            flash(f"Token {saved['name']} saved.")
            return redirect_to(url_for("portal.tokens"))
        except ServiceError as exc:
            errors = errors_of(exc, FIELDS)
    return _form(values, errors, current)


@bp.post("/tokens/<token_id>/toggle")
@admin_required
def token_toggle(token_id: str):
    """Replaces its own row (hx-target), so the table stays where the admin was."""
    token = tokens_service.view(tokens_service.get(token_id))
    token = tokens_service.update_token(current_user.username, token_id, {"enabled": not token["enabled"]})
    if not is_htmx():
        return redirect_to(url_for("portal.tokens"))
    return render(LIST_TEMPLATE, "token_row", token=_with_state(token))


@bp.route("/tokens/<token_id>/revoke", methods=["GET", "POST"])
@admin_required
def token_revoke(token_id: str):
    token = tokens_service.view(tokens_service.get(token_id))
    if request.method == "GET":  # without JavaScript: a confirmation page instead of hx-confirm
        return render("portal/tokens/revoke.html", token=token)
    tokens_service.delete_token(current_user.username, token_id)
    flash(f"Token {token['name']} revoked: clients using it are refused from now on.")
    return redirect_to(url_for("portal.tokens"))


@bp.get("/tokens/scopes-preview")
@admin_required
def token_scopes_preview():
    """The tools the typed globs reach, under the scopes input (hx-trigger on input)."""
    return render(FORM_TEMPLATE, "scopes_preview", **_preview(request.args.get("scopes", "")))


def _submitted(with_token: bool) -> dict[str, Any]:
    form = request.form
    values: dict[str, Any] = texts(form, ("name", "role", "scopes", "expires_at", "cert_fingerprint", "cert_subject"))
    for name in ("rate_per_second", "rate_burst"):  # empty: the gateway's default (null)
        values[name] = whole_number(form, name)
    values["enabled"] = checkbox(form, "enabled")
    if with_token:
        values["token"] = form.get("token", "")
    return values


def _issued(issued: dict[str, Any], raw: str):
    """The one response that carries the value; htmx also gets the refreshed table (out of band)."""
    response = render(
        FORM_TEMPLATE,
        "token_issued",
        token=issued,
        raw_token=raw,
        refresh_list=is_htmx(),
        **(_listed({}) if is_htmx() else {}),  # the first page, unfiltered: where the new token is
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _form(values: dict[str, Any], errors: dict[str, str], current: dict[str, Any] | None):
    """The issue/edit form; 422 with each message next to its input when the service refused."""
    if isinstance(values.get("enabled"), str):
        values = {**values, "enabled": checkbox(request.form, "enabled")}
    return render(
        FORM_TEMPLATE,
        "token_form",
        status=422 if errors else 200,
        values=values,
        errors=errors,
        current=current,
        roles=token_schema.ROLES,
        **_preview(values.get("scopes") or ""),
    )


def _preview(raw_scopes: str) -> dict[str, Any]:
    if not raw_scopes.strip():
        return {"scopes_typed": False, "matches": [], "scopes_problem": None, "preview_limit": PREVIEW_LIMIT}
    try:
        matches, problem = tokens_service.preview_scopes(raw_scopes), None
    except ServiceError as exc:
        matches, problem = [], exc.message
    return {"scopes_typed": True, "matches": matches, "scopes_problem": problem, "preview_limit": PREVIEW_LIMIT}


def _listed(args: Any) -> dict[str, Any]:
    """The list's context: one page of tokens with their state, the filters in force, and what went wrong."""
    filters = {name: (args.get(name) or "").strip() for name in LIST_FILTERS}
    problem = None
    try:
        found = tokens_service.page_tokens(**filters, page=args.get("page") or 1, limit=PAGE_SIZE)
    except ServiceError as exc:  # a hand-edited query string: say what is wrong, list nothing
        problem = exc.message
        found = {"items": [], "total": 0, "page": 1, "limit": PAGE_SIZE, "next_cursor": None}
    return {
        "tokens": [_with_state(t) for t in found["items"]],
        "found": found,
        "pages": max(1, -(-found["total"] // PAGE_SIZE)),
        "filters": {k: v for k, v in filters.items() if v},
        "problem": problem,
        "sorts": SORTS,
    }


def _with_state(token: dict[str, Any]) -> dict[str, Any]:
    return {**token, "state": tokens_service.state(token)}
