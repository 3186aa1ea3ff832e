"""The `azure` provider: Azure Key Vault secrets through azure-keyvault-secrets.

Production always authenticates with azure-identity's DefaultAzureCredential
(environment service principal, workload identity, managed identity, the
Azure CLI login on a workstation); Janus config never holds Azure credentials.
The constructor takes another TokenCredential only so tests can drive the
real challenge-based handshake against a local fake vault.

Settings (config, else environment):
  AZURE_KEYVAULT_URL              required: https://<vault-name>.vault.azure.net
  AZURE_KEYVAULT_TIMEOUT_SECONDS  connect and read timeout of each attempt (default 5)
  AZURE_KEYVAULT_MAX_RETRIES      retries after the first attempt (default 2)
  AZURE_KEYVAULT_PURGE_ON_DELETE  purge a deleted secret so its key can be set again (default true)

Key Vault secret names allow only [0-9a-zA-Z-], 1 to 127 characters, and are
case-insensitive, so a Janus key is encoded into a name (secret_name) and the
key itself is kept in the tag `janus-key`:

  a-z 0-9  stay as they are
  -        becomes --
  /        becomes -s-
  anything else (upper case too, since the service ignores case) becomes
  -hh for each byte of its UTF-8 encoding, in lower-case hex

Every escape starts with `-` and its next character says which one it is
(`-`, `s`, or a hex digit), so no code is a prefix of another: decoding is
unambiguous, and a name that is not the canonical encoding of some key is
refused (key_from_name returns None). Example: prod/billing-service/api-key
is stored as prod-s-billing--service-s-api--key.

Soft-delete is always on in Azure: a deleted secret keeps its name until it is
purged or its retention ends. delete() therefore waits for the deletion and
purges; without the purge permission (or with purge protection) the secret
stays soft-deleted, a warning is logged, and setting the same key again fails
with a message saying so.
"""

from __future__ import annotations

import logging
import ssl
import time
import unicodedata
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from janus.vault import SecretNotFound, VaultError, setting

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

# The SDK is imported inside the functions that use it (tests/test_architecture.py keeps every cloud SDK off
# module level): importing this module stays cheap, and `azure.core.exceptions` is already loaded by then.

logger = logging.getLogger(__name__)

PROVIDER = "Azure Key Vault"
KEY_TAG = "janus-key"
MAX_NAME_LENGTH = 127
DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_MAX_RETRIES = 2
DELETE_WAIT_SECONDS = 30.0  # a deletion usually completes in a second or two
PURGE_SETTLE_SECONDS = 10.0  # after a purge the name is briefly "being deleted"
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_HEX = frozenset("0123456789abcdef")
_BEING_DELETED = "ObjectIsBeingDeleted"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class InvalidKeyName(VaultError):
    """The key cannot be stored in Azure Key Vault (empty, control characters, too long once encoded)."""


def create(config: Mapping[str, Any]) -> AzureKeyVault:
    url = str(setting(config, "AZURE_KEYVAULT_URL") or "").strip()
    if not url:
        raise VaultError(
            "VAULT_PROVIDER=azure needs AZURE_KEYVAULT_URL, the vault's URL (e.g. https://my-vault.vault.azure.net)"
        )
    return AzureKeyVault(
        url,
        timeout=_number(
            setting(config, "AZURE_KEYVAULT_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS),
            "AZURE_KEYVAULT_TIMEOUT_SECONDS",
            float,
        ),
        max_retries=_number(
            setting(config, "AZURE_KEYVAULT_MAX_RETRIES", DEFAULT_MAX_RETRIES), "AZURE_KEYVAULT_MAX_RETRIES", int
        ),
        purge_on_delete=_flag(
            setting(config, "AZURE_KEYVAULT_PURGE_ON_DELETE", True), "AZURE_KEYVAULT_PURGE_ON_DELETE"
        ),
    )


def _number(raw: Any, name: str, kind: type) -> Any:
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise VaultError(f"{name} must be a number, got {raw!r}") from None
    if value < 0 or (kind is float and value == 0):
        raise VaultError(f"{name} must be positive, got {raw!r}")
    return value


def _flag(raw: Any, name: str) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise VaultError(f"{name} must be true or false, got {raw!r}")


# -- names -----------------------------------------------------------------------


def secret_name(key: str) -> str:
    """The Key Vault secret name for a Janus key; InvalidKeyName if it cannot be one."""
    if not isinstance(key, str) or not key:
        raise InvalidKeyName(f"{PROVIDER}: secret keys must be non-empty strings")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in key):  # Cs: lone surrogates have no UTF-8
        raise InvalidKeyName(f"{PROVIDER}: secret keys must not contain control characters")
    parts: list[str] = []
    for char in key:
        if char in _PLAIN:
            parts.append(char)
        elif char == "-":
            parts.append("--")
        elif char == "/":
            parts.append("-s-")
        else:
            parts.extend(f"-{byte:02x}" for byte in char.encode("utf-8"))
    name = "".join(parts)
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidKeyName(
            f"{PROVIDER}: secret key {key!r} is too long: encoded as a Key Vault secret name it takes "
            f"{len(name)} characters, and Key Vault allows {MAX_NAME_LENGTH} (letters a-z, digits, '-' and "
            "'/' use 1 to 3 characters; others, upper case included, 3 per UTF-8 byte)"
        )
    return name


def key_from_name(name: str) -> str | None:
    """The Janus key a secret name encodes, or None when it is not the encoding of any key."""
    text = name.lower()  # the service compares names without case
    raw = bytearray()
    i = 0
    while i < len(text):
        char = text[i]
        if char in _PLAIN:
            raw.append(ord(char))
            i += 1
        elif char != "-":
            return None
        elif text[i + 1 : i + 2] == "-":
            raw.append(ord("-"))
            i += 2
        elif text[i + 1 : i + 3] == "s-":
            raw.append(ord("/"))
            i += 3
        elif len(text[i + 1 : i + 3]) == 2 and set(text[i + 1 : i + 3]) <= _HEX:
            raw.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            return None
    try:
        key = raw.decode("utf-8")
        canonical = secret_name(key)
    except (UnicodeDecodeError, InvalidKeyName):
        return None
    return key if canonical == text else None  # e.g. -61 for "a" is not how any key is written


# -- the provider ------------------------------------------------------------------


class AzureKeyVault:
    def __init__(
        self,
        vault_url: str,
        *,
        credential: TokenCredential | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_retries: int = DEFAULT_MAX_RETRIES,
        purge_on_delete: bool = True,
        verify_challenge_resource: bool = True,
        connection_verify: str | bool | None = None,
        poll_interval: float | None = None,
    ) -> None:
        """`credential`, `verify_challenge_resource`, `connection_verify` and `poll_interval` exist for tests;
        production passes none of them and gets DefaultAzureCredential, the system CA store (or
        REQUESTS_CA_BUNDLE) and the service's own challenge checks."""
        if not vault_url.lower().startswith("https://"):
            # The SDK sends bearer tokens only over TLS; say so before the first call instead of at it.
            raise VaultError(f"AZURE_KEYVAULT_URL must be an https:// URL, got {vault_url!r}")
        self.vault_url = vault_url.rstrip("/")
        self.purge_on_delete = purge_on_delete
        self._poll_interval = poll_interval
        self._own_credential = None
        if credential is None:
            from azure.identity import DefaultAzureCredential  # only production pays for importing it

            credential = self._own_credential = DefaultAzureCredential()
        from azure.keyvault.secrets import SecretClient

        transport: dict[str, Any] = {}
        if connection_verify is not None:
            transport["connection_verify"] = connection_verify
        self._client = SecretClient(
            vault_url=self.vault_url,
            credential=credential,
            verify_challenge_resource=verify_challenge_resource,
            connection_timeout=timeout,
            read_timeout=timeout,
            retry_total=max_retries,
            retry_backoff_factor=0.2,
            retry_backoff_max=2,
            **transport,
        )

    def close(self) -> None:
        self._client.close()
        if self._own_credential is not None:
            self._own_credential.close()

    # -- the Vault protocol --------------------------------------------------

    def get(self, key: str) -> str:
        from azure.core.exceptions import AzureError

        name = secret_name(key)
        try:
            secret = self._client.get_secret(name)
        except (AzureError, ValueError) as exc:
            raise self._error("read", key, exc) from None
        return secret.value or ""

    def set(self, key: str, value: str) -> None:
        from azure.core.exceptions import AzureError, ResourceExistsError

        name = secret_name(key)
        if not isinstance(value, str):
            raise VaultError(f"{PROVIDER}: the value of secret {key!r} must be a string")
        deadline = time.monotonic() + PURGE_SETTLE_SECONDS
        while True:
            try:
                self._client.set_secret(name, value, tags={KEY_TAG: key})
                return
            except ResourceExistsError as exc:
                if _code(exc) == _BEING_DELETED and time.monotonic() < deadline:
                    # A purge (ours, a moment ago) is still finishing; the name frees up within seconds.
                    time.sleep(self._poll_interval if self._poll_interval is not None else 0.5)
                    continue
                raise self._conflict(key, name, exc, value) from None
            except (AzureError, ValueError) as exc:
                raise self._error("write", key, exc, value) from None

    def delete(self, key: str) -> None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        name = secret_name(key)
        extra = {"_polling_interval": self._poll_interval} if self._poll_interval is not None else {}
        try:
            poller = self._client.begin_delete_secret(name, **extra)
        except (AzureError, ValueError) as exc:
            raise self._error("delete", key, exc) from None
        if poller.result().recovery_id is None or not self.purge_on_delete:
            return  # soft-delete off (older vaults): the name is free already
        try:
            poller.wait(timeout=DELETE_WAIT_SECONDS)
            if not poller.done():
                logger.warning(
                    "%s: secret %r is still being deleted after %.0f s; not purged", PROVIDER, key, DELETE_WAIT_SECONDS
                )
                return
            self._client.purge_deleted_secret(name)
        except ResourceNotFoundError:
            return  # someone else purged it first
        except (AzureError, ValueError) as exc:
            # The secret is gone from the vault; only the name stays reserved. Not a failed delete.
            logger.warning(
                "%s: secret %r was deleted but not purged (%s); it stays soft-deleted, and "
                "setting this key again fails until it is purged or recovered "
                "(grant the identity the secrets 'purge' permission)",
                PROVIDER,
                key,
                _describe(exc),
            )

    def list(self) -> list[str]:
        from azure.core.exceptions import AzureError

        keys: list[str] = []
        try:
            for props in self._client.list_properties_of_secrets():
                if props.managed:  # the secret half of a Key Vault certificate, not ours to serve
                    continue
                key = _key_of(props.name or "", props.tags or {})
                if key is not None:
                    keys.append(key)
        except (AzureError, ValueError) as exc:
            raise self._error("list", None, exc) from None
        return sorted(keys)

    # -- errors ----------------------------------------------------------------

    def _error(self, action: str, key: str | None, exc: Exception, value: str | None = None) -> VaultError:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
            ServiceResponseError,
        )

        what = f"secret {key!r}" if key is not None else "secrets"
        if isinstance(exc, ResourceNotFoundError) and key is not None:
            return SecretNotFound(f"{PROVIDER}: secret {key!r} not found")
        if isinstance(exc, ClientAuthenticationError):
            reason = f"authentication failed: {_describe(exc, value)}"
        elif isinstance(exc, HttpResponseError):
            reason = _describe(exc, value)
        elif isinstance(exc, ServiceRequestError):
            reason = f"cannot reach {self.vault_url}: {_network_reason(exc)}"
        elif isinstance(exc, ServiceResponseError):
            reason = f"no usable answer from {self.vault_url}: {_network_reason(exc)}"
        elif isinstance(exc, ValueError):  # the SDK refused the vault's challenge, before asking for a token
            reason = (
                f"the authentication challenge from {self.vault_url} was refused "
                f"({_describe(exc).split('. ')[0]}); AZURE_KEYVAULT_URL must be the vault's own URL, "
                "https://<vault-name>.vault.azure.net"
            )
        else:
            reason = _describe(exc, value)
        logger.warning("%s: cannot %s %s: %s", PROVIDER, action, what, reason)
        return VaultError(f"{PROVIDER}: cannot {action} {what}: {reason}")

    def _conflict(self, key: str, name: str, exc: Exception, value: str) -> VaultError:
        if _code(exc) == _BEING_DELETED:
            return VaultError(
                f"{PROVIDER}: cannot write secret {key!r}: the vault is still deleting the "
                f"previous secret {name!r}; try again in a few seconds"
            )
        return VaultError(
            f"{PROVIDER}: cannot write secret {key!r}: a deleted secret named {name!r} is kept by the vault's "
            "soft-delete and reserves the name until it is purged or recovered. Janus purges on delete, but "
            "needs the secrets 'purge' permission (and no purge protection) for that; purge it with "
            f"`az keyvault secret purge --id {self.vault_url}/deletedsecrets/{name}` "
            f"({_describe(exc, value)})"
        )


def _key_of(name: str, tags: Mapping[str, str]) -> str | None:
    tagged = tags.get(KEY_TAG)
    if tagged:
        try:
            if secret_name(tagged) == name.lower():  # a tag copied onto another secret must not alias it
                return tagged
        except InvalidKeyName:
            pass
    return key_from_name(name)


def _code(exc: Exception) -> str:
    return str(getattr(getattr(exc, "error", None), "code", "") or "")


def _describe(exc: Exception, value: str | None = None) -> str:
    from azure.core.exceptions import HttpResponseError

    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        error = getattr(exc, "error", None)
        code = getattr(error, "code", None) or exc.reason or "error"
        message = (getattr(error, "message", None) or "").strip()
        text = f"HTTP {exc.status_code} {code}" + (f": {message}" if message else "")
    else:
        text = " ".join((getattr(exc, "message", None) or str(exc) or type(exc).__name__).split())
    if value:  # the service never echoes a value, but a message is no place to bet on that
        text = text.replace(value, "***")
    return text[:500]


def _network_reason(exc: BaseException) -> str:
    """The root cause of a transport failure in a few words (urllib3's own text embeds object reprs)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {cause.reason or cause}"
        if isinstance(cause, TimeoutError) or "timed out" in str(cause).lower():
            return "timed out"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        inner = getattr(cause, "inner_exception", None)
        cause = (
            inner
            if isinstance(inner, BaseException) and id(inner) not in seen
            else (cause.__cause__ or cause.__context__)
        )
    return type(exc).__name__
