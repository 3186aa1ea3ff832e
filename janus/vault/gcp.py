"""The `gcp` provider: Google Secret Manager through google-cloud-secret-manager.

Credentials are Application Default Credentials (workload identity on GKE,
the attached service account on Cloud Run / GCE, GOOGLE_APPLICATION_CREDENTIALS
elsewhere); Janus config never holds Google keys.

Settings (config, else environment):
  GOOGLE_CLOUD_PROJECT          the project holding the secrets (required)
  GCP_SECRETS_API_ENDPOINT      another endpoint. An `http://` endpoint is a test server or
                                emulator and is called WITHOUT credentials (AnonymousCredentials);
                                any other value (e.g. a Private Service Connect host) uses ADC.
  GCP_SECRETS_TIMEOUT_SECONDS   timeout of each HTTP request (default 5)

The client speaks the REST transport, not gRPC: Janus serves from gevent
workers, where gRPC's own threads and event loop need extra care, while REST
goes through `requests`, which gevent patches like any other socket user.

Secret ids allow only `[A-Za-z0-9_-]{1,255}` while Janus keys are paths, so a
key maps to an id reversibly (docs/vaults.md has examples):
  letters, digits, `-`   stay as they are
  `_`                    becomes `__`
  `/`                    becomes `_s`
  anything else          becomes `_xHH` for each byte of its UTF-8 encoding (lower-case hex)
list() shows only ids that are the exact encoding of some key (that is, ids
get() can reach); other secrets in the project are left out.
"""

from __future__ import annotations

import re
import string
import threading
from collections.abc import Mapping
from typing import Any

import requests

from janus.vault import SecretNotFound, VaultError, setting

# The Google libraries are imported inside the functions that use them (tests/test_architecture.py keeps every
# cloud SDK off module level): importing this module stays cheap, and by the first error they are loaded.

PROVIDER = "Google Secret Manager"
DEFAULT_TIMEOUT_SECONDS = 5.0
MAX_ID_LENGTH = 255
_PLAIN = frozenset(string.ascii_letters + string.digits + "-")
_HEX = re.compile(r"[0-9a-f]{2}")


def _errors() -> tuple[type[Exception], ...]:
    """Every failure of a call: API errors, credential errors, and `requests` errors the REST transport lets through."""
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    return (gexc.GoogleAPIError, auth_exc.GoogleAuthError, requests.RequestException)


def create(config: Mapping[str, Any]) -> GcpSecretsVault:
    project = str(setting(config, "GOOGLE_CLOUD_PROJECT") or "").strip()
    if not project:
        raise VaultError(f"{PROVIDER}: set GOOGLE_CLOUD_PROJECT to the project that holds the secrets")
    raw = setting(config, "GCP_SECRETS_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS)
    try:
        timeout = float(raw)
    except (TypeError, ValueError):
        timeout = 0.0
    if timeout <= 0:
        raise VaultError(f"GCP_SECRETS_TIMEOUT_SECONDS must be a positive number, got {raw!r}")
    return GcpSecretsVault(project, endpoint=setting(config, "GCP_SECRETS_API_ENDPOINT") or None, timeout=timeout)


# -- key <-> secret id -----------------------------------------------------------


def secret_id(key: str) -> str:
    """The secret id for `key`; VaultError when the key cannot be one."""
    if not isinstance(key, str) or not key:
        raise VaultError(f"{PROVIDER}: secret names must be non-empty strings")
    out: list[str] = []
    for ch in key:
        if ch in _PLAIN:
            out.append(ch)
        elif ch == "_":
            out.append("__")
        elif ch == "/":
            out.append("_s")
        else:
            try:
                out.extend(f"_x{b:02x}" for b in ch.encode("utf-8"))
            except UnicodeEncodeError:  # a lone surrogate
                raise VaultError(f"{PROVIDER}: secret names must be valid Unicode text") from None
    sid = "".join(out)
    if len(sid) > MAX_ID_LENGTH:
        raise VaultError(
            f"{PROVIDER}: a secret name of {len(key)} characters encodes to a {len(sid)}-character "
            f"secret id; the limit is {MAX_ID_LENGTH} (each character other than letters, digits "
            "and '-' takes 2 to 16)"
        )
    return sid


def key_for(sid: str) -> str | None:
    """The key whose secret id is `sid`, or None when no key encodes to it."""
    raw = bytearray()
    i = 0
    while i < len(sid):
        ch = sid[i]
        if ch in _PLAIN:
            raw.append(ord(ch))
            i += 1
            continue
        if ch != "_":
            return None
        tag = sid[i + 1 : i + 2]
        if tag == "_":
            raw.append(ord("_"))
            i += 2
        elif tag == "s":
            raw.append(ord("/"))
            i += 2
        elif tag == "x" and _HEX.fullmatch(sid[i + 2 : i + 4]):
            raw.append(int(sid[i + 2 : i + 4], 16))
            i += 4
        else:
            return None
    try:
        key = raw.decode("utf-8")
        return key if secret_id(key) == sid else None  # only the canonical spelling: one id per key
    except (UnicodeDecodeError, VaultError):
        return None


# -- payload checksums -------------------------------------------------------------


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        table.append(crc)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C, the checksum Secret Manager uses to detect payloads corrupted in transit."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# -- the provider ------------------------------------------------------------------


class GcpSecretsVault:
    def __init__(self, project: str, *, endpoint: str | None = None, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.project = project
        self.endpoint = endpoint
        self.timeout = timeout
        self._retry: Any = None
        self._client: Any = None
        self._client_lock = threading.Lock()

    @property
    def parent(self) -> str:
        return f"projects/{self.project}"

    def _path(self, key: str) -> str:
        return f"{self.parent}/secrets/{secret_id(key)}"

    # -- the Vault protocol --------------------------------------------------

    def get(self, key: str) -> str:
        name = f"{self._path(key)}/versions/latest"
        response = self._call("read", key, "access_secret_version", {"name": name}, read=True)
        payload = response.payload
        data = bytes(payload.data)
        if "data_crc32c" in payload and payload.data_crc32c != crc32c(data):
            raise VaultError(f"{PROVIDER}: secret {key!r} arrived corrupted (CRC32C mismatch); try again")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise VaultError(
                f"{PROVIDER}: secret {key!r} holds binary data that is not UTF-8 text; Janus reads only text secrets"
            ) from None

    def set(self, key: str, value: str) -> None:
        path = self._path(key)
        if not isinstance(value, str):
            raise VaultError(f"{PROVIDER}: the value of secret {key!r} must be a string")
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError:
            raise VaultError(f"{PROVIDER}: the value of secret {key!r} is not valid Unicode text") from None
        version = {"parent": path, "payload": {"data": data, "data_crc32c": crc32c(data)}}
        try:
            self._call("write", key, "add_secret_version", version)
            return
        except SecretNotFound:
            pass
        secret = {"parent": self.parent, "secret_id": secret_id(key), "secret": {"replication": {"automatic": {}}}}
        try:
            self._call("create", key, "create_secret", secret)
        except _AlreadyExists:
            pass  # another process created it between our two calls; our version goes on top
        try:
            self._call("write", key, "add_secret_version", version)
        except SecretNotFound:  # set() never answers "not found": the secret was deleted while we wrote
            raise VaultError(f"{PROVIDER}: cannot write secret {key!r}: it was deleted while being created") from None

    def delete(self, key: str) -> None:
        self._call("delete", key, "delete_secret", {"name": self._path(key)})

    def list(self) -> list[str]:
        try:
            client = self._client_or_error()
            pager = client.list_secrets(request={"parent": self.parent}, retry=self._retry, timeout=self.timeout)
            ids = [secret.name.rsplit("/", 1)[-1] for secret in pager]  # iterating fetches the further pages
        except _errors() as exc:
            raise VaultError(f"{PROVIDER}: cannot list secrets in project {self.project!r}: {_describe(exc)}") from None
        return sorted(key for key in map(key_for, ids) if key is not None)

    # -- plumbing ----------------------------------------------------------------

    def _client_or_error(self) -> Any:
        # Built on first use, not in create(): finding ADC may ask the metadata server.
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    try:
                        self._retry = self._reads_retry()
                        self._client = self._new_client()
                    except _errors() as exc:
                        raise VaultError(f"{PROVIDER}: cannot create a client: {_describe(exc)}") from None
        return self._client

    def _reads_retry(self) -> Any:
        from google.api_core import exceptions as gexc
        from google.api_core import retry as gretry

        # Google's default retries transient answers for a minute; a tool call should not wait that long.
        transient = gretry.if_exception_type(gexc.ServiceUnavailable, gexc.ResourceExhausted)
        return gretry.Retry(predicate=transient, initial=0.25, maximum=1.0, multiplier=2.0, timeout=2 * self.timeout)

    def _new_client(self) -> Any:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud.secretmanager import SecretManagerServiceClient

        if not self.endpoint:
            return SecretManagerServiceClient(transport="rest")
        options = ClientOptions(api_endpoint=self.endpoint)
        if self.endpoint.lower().startswith("http://"):  # tests and emulators only: no token over plain HTTP
            return SecretManagerServiceClient(
                credentials=AnonymousCredentials(), transport="rest", client_options=options
            )
        return SecretManagerServiceClient(transport="rest", client_options=options)

    def _call(self, action: str, key: str, method: str, request: dict, read: bool = False) -> Any:
        from google.api_core import exceptions as gexc

        client = self._client_or_error()
        try:
            retry = self._retry if read else None  # writes are not retried: an addVersion may have landed
            return getattr(client, method)(request=request, retry=retry, timeout=self.timeout)
        except gexc.NotFound:
            raise SecretNotFound(f"{PROVIDER}: secret {key!r} not found") from None
        except gexc.Conflict as exc:  # over REST, ALREADY_EXISTS arrives as a 409 Conflict
            if method != "create_secret":
                raise VaultError(f"{PROVIDER}: cannot {action} secret {key!r}: {_describe(exc)}") from None
            raise _AlreadyExists() from None
        except _errors() as exc:
            raise VaultError(f"{PROVIDER}: cannot {action} secret {key!r}: {_describe(exc)}") from None


class _AlreadyExists(Exception):
    pass


def _describe(exc: Exception) -> str:
    # A GoogleAPICallError's str is "404 <message>"; requests' errors name the URL, never the body we sent.
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.GoogleAPICallError):
        status = getattr(exc, "grpc_status_code", None)
        label = getattr(status, "name", None) or type(exc).__name__
        return f"{label} ({exc.code}): {exc.message}"
    return f"{type(exc).__name__}: {exc}"
