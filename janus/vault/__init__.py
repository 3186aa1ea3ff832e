"""Pluggable secret vaults, selected by VAULT_PROVIDER.

Each provider lives in its own module and is imported only when selected, so
a process that never touches AWS never pays for importing boto3.
"""
from __future__ import annotations

import importlib
import threading
from typing import Any, Mapping, Protocol

PROVIDERS = {
    "local": "janus.vault.local",
    "aws": "janus.vault.aws",
    "gcp": "janus.vault.gcp",
    "azure": "janus.vault.azure",
}


class VaultError(RuntimeError):
    """A vault operation failed; the message never contains a secret value."""


class Vault(Protocol):
    def get(self, key: str) -> str: ...
    def set(self, key: str, value: str) -> None: ...
    def delete(self, key: str) -> None: ...
    def list(self) -> list[str]: ...


_instances: dict[tuple, Vault] = {}
_lock = threading.Lock()


def get_vault(config: Mapping[str, Any]) -> Vault:
    name = str(config.get("VAULT_PROVIDER") or "local").lower()
    if name not in PROVIDERS:
        raise VaultError(f"Unknown VAULT_PROVIDER {name!r}; expected one of {', '.join(PROVIDERS)}")
    key = (name, config.get("VAULT_LOCAL_PATH"))
    with _lock:
        vault = _instances.get(key)
        if vault is None:
            try:
                module = importlib.import_module(PROVIDERS[name])
            except ModuleNotFoundError as exc:
                if exc.name != PROVIDERS[name]:
                    raise
                raise VaultError(f"Vault provider {name!r} is not available in this build") from None
            vault = _instances[key] = module.create(config)
    return vault
