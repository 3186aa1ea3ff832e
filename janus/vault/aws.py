"""The `aws` provider: AWS Secrets Manager through boto3.

Credentials come only from boto3's standard chain (environment, shared files,
IRSA web identity, ECS task role, EC2 instance profile); Janus config never
holds AWS keys. The region comes from AWS_REGION, else from boto3's own
lookup (AWS_DEFAULT_REGION, the shared config file).

Settings (config, else environment):
  AWS_SECRETS_ENDPOINT_URL      another endpoint: a VPC interface endpoint, or a test server
  AWS_SECRETS_PREFIX            prepended to every key (default ""), stripped again by list()
  AWS_SECRETS_TIMEOUT_SECONDS   connect and read timeout of each attempt (default 5)
  AWS_SECRETS_MAX_RETRIES       retries after the first attempt, standard mode (default 2)

delete() removes the secret at once (ForceDeleteWithoutRecovery). With a
recovery window the name stays reserved for 7-30 days: a connection deleted
and recreated under the same key could not store its secret again until an
operator restored or purged it (see docs/vaults.md for the alternative). A
forced delete of a missing secret can succeed without an error, so delete()
describes the secret first to answer SecretNotFound like every other provider.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from janus.vault import SecretNotFound, VaultError, setting

# boto3 and botocore are imported inside the functions that use them (tests/test_architecture.py keeps every
# cloud SDK off module level): importing this module stays cheap, and by the first error they are loaded.

PROVIDER = "AWS Secrets Manager"
DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_MAX_RETRIES = 2
_NOT_FOUND = "ResourceNotFoundException"
_EXISTS = "ResourceExistsException"


def create(config: Mapping[str, Any]) -> AwsSecretsVault:
    return AwsSecretsVault(
        endpoint_url=setting(config, "AWS_SECRETS_ENDPOINT_URL") or None,
        prefix=setting(config, "AWS_SECRETS_PREFIX") or "",
        region=setting(config, "AWS_REGION") or None,
        timeout=_number(
            setting(config, "AWS_SECRETS_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS),
            "AWS_SECRETS_TIMEOUT_SECONDS",
            float,
        ),
        max_retries=_number(
            setting(config, "AWS_SECRETS_MAX_RETRIES", DEFAULT_MAX_RETRIES), "AWS_SECRETS_MAX_RETRIES", int
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


class AwsSecretsVault:
    list_page_size = 100  # the service's maximum; ListSecrets is rate-limited, so fewer calls are better

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        prefix: str = "",
        region: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.prefix = prefix
        self.region = region
        self.timeout = timeout
        self.max_retries = max_retries
        self._client: Any = None
        self._client_lock = threading.Lock()

    # -- the Vault protocol --------------------------------------------------

    def get(self, key: str) -> str:
        name = self._name(key)
        response = self._call("read", key, "get_secret_value", SecretId=name)
        if "SecretString" in response:
            return response["SecretString"]
        binary = response.get("SecretBinary")
        if binary is None:
            raise VaultError(f"{PROVIDER}: secret {key!r} has no value")
        try:
            return bytes(binary).decode("utf-8")
        except UnicodeDecodeError:
            raise VaultError(
                f"{PROVIDER}: secret {key!r} holds binary data that is not UTF-8 text; Janus reads only text secrets"
            ) from None

    def set(self, key: str, value: str) -> None:
        name = self._name(key)
        if not isinstance(value, str):
            raise VaultError(f"{PROVIDER}: the value of secret {key!r} must be a string")
        try:
            self._call("write", key, "put_secret_value", SecretId=name, SecretString=value, _value=value)
            return
        except SecretNotFound:
            pass
        try:
            self._call("create", key, "create_secret", Name=name, SecretString=value, _value=value, _exists_ok=True)
        except _AlreadyExists:
            # Another process created it between our two calls: its value is as old as ours, so write again.
            try:
                self._call("write", key, "put_secret_value", SecretId=name, SecretString=value, _value=value)
            except SecretNotFound:  # set() never answers "not found": the secret was deleted while we wrote
                raise VaultError(
                    f"{PROVIDER}: cannot write secret {key!r}: it was deleted while being created"
                ) from None

    def delete(self, key: str) -> None:
        name = self._name(key)
        # A forced delete of a missing secret can succeed without an error, so ask first: a missing key is a 404.
        self._call("delete", key, "describe_secret", SecretId=name)
        self._call("delete", key, "delete_secret", SecretId=name, ForceDeleteWithoutRecovery=True)

    def list(self) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        kwargs: dict[str, Any] = {"PaginationConfig": {"PageSize": self.list_page_size}}
        if self.prefix:  # the service filter is a case-insensitive prefix match: narrow it here, check exactly below
            kwargs["Filters"] = [{"Key": "name", "Values": [self.prefix]}]
        names: list[str] = []
        try:
            for page in self._get_client().get_paginator("list_secrets").paginate(**kwargs):
                names.extend(entry["Name"] for entry in page.get("SecretList", []))
        except (ClientError, BotoCoreError) as exc:
            raise VaultError(f"{PROVIDER}: cannot list secrets: {_describe(exc)}") from None
        return sorted(n[len(self.prefix) :] for n in names if n.startswith(self.prefix) and len(n) > len(self.prefix))

    # -- plumbing ----------------------------------------------------------------

    def _name(self, key: str) -> str:
        if not isinstance(key, str) or not key:
            raise VaultError(f"{PROVIDER}: secret names must be non-empty strings")
        return self.prefix + key

    def _get_client(self) -> Any:
        # Built on first use, not in create(): resolving credentials may ask the instance metadata service.
        if self._client is None:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError, NoRegionError

            config = Config(
                connect_timeout=self.timeout,
                read_timeout=self.timeout,
                retries={"mode": "standard", "max_attempts": self.max_retries},
            )
            with self._client_lock:
                if self._client is None:
                    try:
                        session = boto3.session.Session()  # our own: the default session is not thread-safe
                        self._client = session.client(
                            "secretsmanager", region_name=self.region, endpoint_url=self.endpoint_url, config=config
                        )
                    except NoRegionError:
                        raise VaultError(
                            f"{PROVIDER}: no region is configured; set AWS_REGION or AWS_DEFAULT_REGION"
                        ) from None
                    except BotoCoreError as exc:
                        raise VaultError(f"{PROVIDER}: cannot create a client: {_describe(exc)}") from None
        return self._client

    def _call(
        self,
        action: str,
        key: str,
        operation: str,
        *,
        _value: str | None = None,
        _exists_ok: bool = False,
        **params: Any,
    ) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._get_client(), operation)(**params)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == _NOT_FOUND:
                raise SecretNotFound(f"{PROVIDER}: secret {key!r} not found") from None
            if code == _EXISTS and _exists_ok:
                raise _AlreadyExists() from None
            message = _describe(exc, _value)
        except BotoCoreError as exc:
            message = _describe(exc, _value)
        raise VaultError(f"{PROVIDER}: cannot {action} secret {key!r}: {message}") from None


class _AlreadyExists(Exception):
    pass


def _describe(exc: Exception, value: str | None = None) -> str:
    response = getattr(exc, "response", None)  # a botocore ClientError
    if isinstance(response, dict):
        error = response.get("Error", {})
        text = f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    else:
        text = f"{type(exc).__name__}: {exc}"
    if value and len(value) >= 4:  # services never echo a value, but a message is no place to bet on that
        text = text.replace(value, "***")
    return text
