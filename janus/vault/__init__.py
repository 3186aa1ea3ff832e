"""Pluggable secret vaults, selected by VAULT_PROVIDER.

Each provider lives in its own module and is imported only when selected, so
a process that never touches AWS never pays for importing boto3.

Settings read here and by the providers: VAULT_PROVIDER, VAULT_LOCAL_PATH,
VAULT_ENCRYPTION_KEY, VAULT_READ_ONLY. A setting missing from the config
mapping falls back to the environment, so a config built without these names
still honours what the operator exported.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import importlib
import os
import threading
from collections.abc import Mapping
from typing import Any, Protocol

PROVIDERS = {
    "local": "janus.vault.local",
    "aws": "janus.vault.aws",
    "gcp": "janus.vault.gcp",
    "azure": "janus.vault.azure",
}

KEY_BYTES = 32  # AES-256
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class VaultError(RuntimeError):
    """A vault operation failed; the message never contains a secret value."""


class SecretNotFound(VaultError):
    """No secret is stored under the requested name."""


class Vault(Protocol):
    def get(self, key: str) -> str: ...
    def set(self, key: str, value: str) -> None: ...
    def delete(self, key: str) -> None: ...
    def list(self) -> list[str]: ...


def setting(config: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """`config[name]`, else the environment variable, else `default`."""
    if name in config:
        return config[name]
    return os.environ.get(name, default)


def read_only(config: Mapping[str, Any]) -> bool:
    raw = setting(config, "VAULT_READ_ONLY", False)
    if isinstance(raw, bool) or raw is None:
        return bool(raw)
    value = str(raw).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise VaultError(f"VAULT_READ_ONLY must be true or false, got {raw!r}")


def decode_key(raw: str | bytes, name: str) -> bytes:
    """A 32-byte key from its base64 text; errors name `name`, never the text."""
    hint = (
        f"{name} must be the base64 encoding of exactly {KEY_BYTES} bytes "
        '(generate one with: python -c "import base64, os; print(base64.b64encode(os.urandom(32)).decode())")'
    )
    try:
        text = raw.decode("ascii") if isinstance(raw, bytes) else raw
        text = text.strip().replace("-", "+").replace("_", "/")  # accept the URL-safe alphabet too
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise VaultError(hint) from None
    if len(key) != KEY_BYTES:
        raise VaultError(hint)
    return key


class ReadOnlyVault:
    """Wraps any provider when VAULT_READ_ONLY is on: reads pass, writes refuse."""

    def __init__(self, inner: Vault) -> None:
        self._inner = inner

    def get(self, key: str) -> str:
        return self._inner.get(key)

    def list(self) -> list[str]:
        return self._inner.list()

    def set(self, key: str, value: str) -> None:
        raise VaultError("the vault is read-only (VAULT_READ_ONLY=true)")

    def delete(self, key: str) -> None:
        raise VaultError("the vault is read-only (VAULT_READ_ONLY=true)")

    def rotate_key(self, new_key: bytes | None = None) -> int:
        raise VaultError("the vault is read-only (VAULT_READ_ONLY=true)")

    def __getattr__(self, name: str) -> Any:  # provider extras such as key_location
        return getattr(self._inner, name)


_instances: dict[tuple, Vault] = {}
_lock = threading.Lock()


def _reset_after_fork() -> None:
    # A gunicorn worker must not share the master's provider (open lock files,
    # cached key) nor inherit _lock held by a thread that does not exist here.
    global _lock
    _lock = threading.Lock()
    _instances.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


# Settings that select a different store (the cloud providers read these); part of the cache key.
_PROVIDER_SETTING_PREFIXES = (
    "VAULT_",
    "AWS_SECRETS_",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "GCP_SECRETS_",
    "GOOGLE_CLOUD_PROJECT",
    "AZURE_KEYVAULT_",
)


def _fingerprint(config: Mapping[str, Any]) -> str:
    """Every setting that selects the store, hashed so the cache key holds no key material."""
    names = {str(k) for k in (*config, *os.environ) if str(k).startswith(_PROVIDER_SETTING_PREFIXES)}
    names |= {"VAULT_ENCRYPTION_KEY", "VAULT_READ_ONLY"}
    items = sorted((name, repr(setting(config, name))) for name in names)
    items.append(("cwd", os.getcwd()))  # VAULT_LOCAL_PATH may be relative
    return hashlib.sha256(repr(items).encode()).hexdigest()


def get_vault(config: Mapping[str, Any]) -> Vault:
    name = str(config.get("VAULT_PROVIDER") or "local").lower()
    if name not in PROVIDERS:
        raise VaultError(f"Unknown VAULT_PROVIDER {name!r}; expected one of {', '.join(PROVIDERS)}")
    # The pid as well: a child created without the at-fork hook still gets its own instance.
    key = (os.getpid(), name, _fingerprint(config))
    with _lock:
        vault = _instances.get(key)
        if vault is None:
            try:
                module = importlib.import_module(PROVIDERS[name])
            except ModuleNotFoundError as exc:
                if exc.name != PROVIDERS[name]:
                    raise
                raise VaultError(f"Vault provider {name!r} is not available in this build") from None
            vault = module.create(config)
            if read_only(config):
                vault = ReadOnlyVault(vault)
            _instances[key] = vault
    return vault
