"""Vault secrets through Janus: names are listed, values go in and never come back out."""
from __future__ import annotations

import unicodedata
from typing import Any

from flask import current_app

from janus.extensions import db
from janus.services import admin_audit
from janus.services.errors import NotFound, ServiceError, ValidationError
from janus.vault import SecretNotFound, VaultError, decode_key, get_vault

MAX_KEY = 512


class VaultUnavailable(ServiceError):
    status = 502
    error = "vault_error"


def list_keys() -> list[str]:
    try:
        return get_vault(current_app.config).list()
    except VaultError as exc:
        raise VaultUnavailable(str(exc)) from None


def set_secret(actor: str, key: Any, value: Any) -> dict[str, Any]:
    key = _key(key)
    if not isinstance(value, str) or value == "":
        raise ValidationError("value must be a non-empty string")
    if any(unicodedata.category(c) == "Cs" for c in value):
        raise ValidationError("value must be valid Unicode text (no unpaired surrogates)")
    try:
        get_vault(current_app.config).set(key, value)
    except VaultError as exc:
        raise VaultUnavailable(str(exc)) from None
    _forget_cached(key)
    admin_audit.record(actor, "vault.set", "vault_key", key)  # the name only, never the value
    db.session.commit()
    return {"key": key}


def delete_secret(actor: str, key: Any) -> None:
    key = _key(key)
    try:
        get_vault(current_app.config).delete(key)
    except SecretNotFound:
        raise NotFound(f"vault key {key!r} not found") from None
    except VaultError as exc:
        raise VaultUnavailable(str(exc)) from None
    _forget_cached(key)
    admin_audit.record(actor, "vault.delete", "vault_key", key)
    db.session.commit()


def _key(key: Any) -> str:
    # Cc and Cs as the vault providers check them: a name they would refuse is the caller's mistake, not a 502.
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY or any(
            unicodedata.category(c) in ("Cc", "Cs") for c in key):
        raise ValidationError(f"key must be a non-empty name of at most {MAX_KEY} characters without control "
                              "characters, e.g. prod/billing-service/api-key")
    return key.strip()


def _forget_cached(key: str) -> None:
    runtime = current_app.extensions.get("janus.runtime")
    forget = getattr(runtime, "forget_secret", None) if runtime else None
    if forget:
        forget(key)


def rotate_key(actor: str, new_key_b64: str | None = None, new_key_name: str = "") -> tuple[int, str, bool]:
    """Re-encrypt every secret under a new key: (values re-encrypted, where the key lives, key from env?)."""
    try:
        new_key = decode_key(new_key_b64, new_key_name) if new_key_b64 else None
        vault = get_vault(current_app.config)
        if not hasattr(vault, "rotate_key"):
            raise ValidationError(f"VAULT_PROVIDER {current_app.config['VAULT_PROVIDER']!r} keeps its own keys; "
                                  "rotate them in that service")
        count = vault.rotate_key(new_key)
    except VaultError as exc:
        raise VaultUnavailable(str(exc)) from None
    admin_audit.record(actor, "vault.rotate_key", "vault", None, values=count)
    db.session.commit()
    return count, vault.key_location, bool(getattr(vault, "key_from_env", False))
