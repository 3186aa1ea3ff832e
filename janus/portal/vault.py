"""Security Vault (figures portal_settings_vault, portal_settings_vault_proxy): provider, key names, store, delete.

Values go in and never come back out: no page, fragment, flash message or audit row carries one, and a
refused form does not echo the value it was sent.
"""

from __future__ import annotations

from typing import Any

from flask import flash, request, url_for
from flask_login import current_user, login_required

from janus.portal.blueprint import bp
from janus.portal.forms import errors_of
from janus.portal.rendering import redirect_to, render
from janus.portal.security import admin_required
from janus.services import status as status_service
from janus.services import vault_keys
from janus.services.errors import ServiceError, ValidationError

TEMPLATE = "portal/vault/index.html"
FIELDS = ("key", "value")


@bp.get("/vault")
@login_required
def vault():
    return _page({"key": ""}, {})


@bp.post("/vault/secrets")
@admin_required
def vault_store():
    key = request.form.get("key", "")
    try:
        stored = vault_keys.set_secret(current_user.username, key, request.form.get("value", ""))
    except ServiceError as exc:
        status = 422 if isinstance(exc, ValidationError) else exc.status
        return _page({"key": key}, errors_of(exc, FIELDS), status=status)
    flash(f"Secret {stored['key']} stored. Its value is never shown again.")
    return redirect_to(url_for("portal.vault"))


@bp.route("/vault/delete", methods=["GET", "POST"])
@admin_required
def vault_delete():
    """The key travels as a parameter, not in the path: names hold '/' and need no URL escaping rules."""
    key = request.values.get("key", "")
    if request.method == "GET":  # without JavaScript: a confirmation page instead of hx-confirm
        return render(
            "portal/vault/delete.html",
            key=key,
            info=vault_keys.provider_info(),
            used_by=vault_keys.references().get(key, []),
        )
    vault_keys.delete_secret(current_user.username, key)
    flash(f"Secret {key} deleted.")
    return redirect_to(url_for("portal.vault"))


def _page(values: dict[str, Any], errors: dict[str, str], status: int = 200):
    """The whole page (htmx: only the form, which is what a submit replaces)."""
    keys, problem = None, None
    try:
        keys = vault_keys.list_keys()
    except vault_keys.VaultUnavailable as exc:
        problem = exc.message  # the provider's message names no secret value
    return render(
        TEMPLATE,
        "vault_form" if errors else "key_list",
        status=status,
        values=values,
        errors=errors,
        info=vault_keys.provider_info(),
        keys=keys,
        vault_problem=problem,
        used_by=vault_keys.references(),
        settings=status_service.settings_overview(),
    )
