"""Vault secrets through Janus: names are listed, values go in and never come back out."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import current_app
from sqlalchemy import select

from janus.extensions import db
from janus.models import Connection
from janus.schemas.vault import VaultValue, check_key
from janus.services import admin_audit, token_key
from janus.services._common import checked, validated
from janus.services.errors import Forbidden, NotFound, ServiceError, ValidationError
from janus.vault import SecretNotFound, VaultError, app_vault, decode_key, read_only, setting


class VaultUnavailable(ServiceError):
    status = 502
    error = "vault_error"


class VaultReadOnly(Forbidden):
    """VAULT_READ_ONLY is on: secrets are managed in the provider itself, never through Janus."""


READ_ONLY_MESSAGE = (
    "the vault is read-only (VAULT_READ_ONLY=true): store and delete secrets in the provider "
    "itself; Janus only reads them"
)

PROVIDER_NAMES = {
    "local": "Local encrypted file (AES-256-GCM)",
    "aws": "AWS Secrets Manager",
    "gcp": "Google Secret Manager",
    "azure": "Azure Key Vault",
}
# What selects the store, per provider, with what applies when unset; never a credential (the providers take
# those from their own chains: instance roles, workload identity, the environment).
PROVIDER_SETTINGS: dict[str, tuple[tuple[str, str], ...]] = {
    "local": (("VAULT_LOCAL_PATH", "./secrets.json"),),
    "aws": (
        ("AWS_REGION", "boto3's own lookup (AWS_DEFAULT_REGION, shared config)"),
        ("AWS_SECRETS_PREFIX", "none"),
        ("AWS_SECRETS_ENDPOINT_URL", "the public AWS endpoint"),
        ("AWS_SECRETS_TIMEOUT_SECONDS", "5"),
        ("AWS_SECRETS_MAX_RETRIES", "2"),
    ),
    "gcp": (
        ("GOOGLE_CLOUD_PROJECT", "required"),
        ("GCP_SECRETS_API_ENDPOINT", "the public Google endpoint"),
        ("GCP_SECRETS_TIMEOUT_SECONDS", "5"),
    ),
    "azure": (
        ("AZURE_KEYVAULT_URL", "required"),
        ("AZURE_KEYVAULT_TIMEOUT_SECONDS", "5"),
        ("AZURE_KEYVAULT_MAX_RETRIES", "2"),
        ("AZURE_KEYVAULT_PURGE_ON_DELETE", "true"),
    ),
}


def references() -> dict[str, list[str]]:
    """Which connections read each vault key (auth secret reference): key → connection names."""
    used: dict[str, list[str]] = {}
    for name, ref in db.session.execute(
        select(Connection.name, Connection.auth_secret_ref)
        .where(Connection.auth_secret_ref.is_not(None))
        .order_by(Connection.name)
    ):
        if ref:
            used.setdefault(ref, []).append(name)
    return used


def provider_info() -> dict[str, Any]:
    """The configured provider and its non-secret settings, read from config alone (works while the vault is down)."""
    config = current_app.config
    provider = str(config.get("VAULT_PROVIDER") or "local").lower()
    try:
        is_read_only = read_only(config)
    except VaultError:
        is_read_only = True  # a malformed flag: the vault refuses to build too, so nothing can be written anyway
    settings: list[dict[str, str]] = []
    for name, default in PROVIDER_SETTINGS.get(provider, ()):
        value = setting(config, name)
        text = "" if value is None else str(value).strip()
        settings.append({"name": name, "value": _without_userinfo(text) if "://" in text else text, "default": default})
    if provider == "local":
        path = str(setting(config, "VAULT_LOCAL_PATH") or "./secrets.json")
        from_env = bool(str(setting(config, "VAULT_ENCRYPTION_KEY") or "").strip())
        settings.append(
            {
                "name": "encryption key",
                "default": "",  # where the key lives, never the key
                "value": "from VAULT_ENCRYPTION_KEY" if from_env else f"key file {path}.key",
            }
        )
    return {
        "provider": provider,
        "name": PROVIDER_NAMES.get(provider, provider),
        "read_only": is_read_only,
        "settings": settings,
    }


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="…@" + parts.netloc.rsplit("@", 1)[1]))


def list_keys() -> list[str]:
    try:
        return app_vault(current_app).list()
    except VaultError as exc:
        raise VaultUnavailable(str(exc)) from None


def set_secret(actor: str, key: Any, value: Any) -> dict[str, Any]:
    _writable()
    key = _not_reserved(_key(key))
    value = validated(VaultValue, {"value": value})["value"]
    try:
        app_vault(current_app).set(key, value)
    except VaultError as exc:
        raise VaultUnavailable(str(exc)) from None
    _forget_cached(key)
    admin_audit.record(actor, "vault.set", "vault_key", key)  # the name only, never the value
    db.session.commit()
    return {"key": key}


def delete_secret(actor: str, key: Any) -> None:
    _writable()
    key = _not_reserved(_key(key))
    try:
        app_vault(current_app).delete(key)
    except SecretNotFound:
        raise NotFound(f"vault key {key!r} not found") from None
    except VaultError as exc:
        raise VaultUnavailable(str(exc)) from None
    _forget_cached(key)
    admin_audit.record(actor, "vault.delete", "vault_key", key)
    db.session.commit()


def _writable() -> None:
    try:
        refused = read_only(current_app.config)
    except VaultError as exc:
        raise VaultUnavailable(str(exc)) from None
    if refused:
        raise VaultReadOnly(READ_ONLY_MESSAGE)


def _not_reserved(key: str) -> str:
    # The token hash key is Janus's own: overwriting or deleting it would void every client token and stop
    # the next start (another key than the database's), so only the vault's own tools may touch it.
    if key == token_key.VAULT_SECRET_NAME:
        raise ValidationError(
            f"vault key {key!r} is reserved: it holds the client token hash key; manage it in the vault itself",
            field="key",
        )
    return key


def _key(key: Any) -> str:
    return checked("key", check_key, key)


def _forget_cached(key: str) -> None:
    runtime = current_app.extensions.get("janus.runtime")
    forget = getattr(runtime, "forget_secret", None) if runtime else None
    if forget:
        forget(key)


def rotate_key(actor: str, new_key_b64: str | None = None, new_key_name: str = "") -> tuple[int, str, bool]:
    """Re-encrypt every secret under a new key: (values re-encrypted, where the key lives, key from env?)."""
    try:
        new_key = decode_key(new_key_b64, new_key_name) if new_key_b64 else None
        vault = app_vault(current_app)
        if not hasattr(vault, "rotate_key") or not hasattr(vault, "key_location"):
            raise ValidationError(
                f"VAULT_PROVIDER {current_app.config['VAULT_PROVIDER']!r} keeps its own keys; "
                "rotate them in that service"
            )
        count = vault.rotate_key(new_key)
    except VaultError as exc:
        raise VaultUnavailable(str(exc)) from None
    admin_audit.record(actor, "vault.rotate_key", "vault", None, values=count)
    db.session.commit()
    return count, vault.key_location, bool(getattr(vault, "key_from_env", False))
