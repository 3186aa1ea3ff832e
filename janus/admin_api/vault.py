"""Vault secrets: /api/v1/vault/keys. Names are listed; values go in and never come back out."""

from __future__ import annotations

from flask import Response, jsonify

from janus.admin_api._http import actor, json_body, no_content
from janus.admin_api.blueprint import bp
from janus.auth.admin import require
from janus.schemas.vault import VaultValue
from janus.services import vault_keys
from janus.services._common import validated


@bp.get("/vault/keys")
@require("viewer")
def list_vault_keys() -> Response:
    return jsonify(keys=vault_keys.list_keys())


# merge_slashes=False: a key is a name, "a//b" must not be redirected to "a/b".
@bp.put("/vault/keys/<path:key>", merge_slashes=False)
@require("admin")
def set_vault_key(key: str) -> Response:
    data = json_body()
    value = validated(VaultValue, data)["value"]  # unknown fields refused before anything else
    return jsonify(vault_keys.set_secret(actor(), key, value))


@bp.delete("/vault/keys/<path:key>", merge_slashes=False)
@require("admin")
def delete_vault_key(key: str) -> Response:
    vault_keys.delete_secret(actor(), key)
    return no_content()
