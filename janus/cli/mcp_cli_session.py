"""`mcp-cli` plumbing: the cached login, the gateway address, and HTTP calls that fail in one clear line.

Nothing here imports Janus's server side (models, services, Flask): the CLI is a
remote client and must run on a machine that has only this package's client deps.
"""

from __future__ import annotations

import json
import os
import secrets
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import requests

DEFAULT_ADDR = "http://localhost:8899"
ADDR_ENV = "MCP_GATEWAY_ADDR"
TIMEOUT = 30.0
CACHE_FIELDS = ("addr", "token", "username", "expires_at")


class CliError(click.ClickException):
    """A failure the user can act on: printed as one line on stderr, exit status 1 (2 for bad input)."""

    def __init__(self, message: str, exit_code: int = 1, status: int | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click types it a ClassVar, yet reads it from the instance
        self.status = status  # the HTTP status behind the failure, if any


# -- the cached login --------------------------------------------------------------


def cache_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored.
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return root / "mcp-gateway" / "cli.json"


def load_cache() -> dict[str, Any]:
    try:
        data = json.loads(cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_cache(data: dict[str, Any]) -> Path:
    """Write the session atomically: a 0600 temp file in a 0700 directory, then rename over the old one."""
    path = cache_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".cli.{secrets.token_hex(8)}.tmp")
    # Created 0600 from the start (O_EXCL: never reuse a file someone else put there).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({k: data.get(k) for k in CACHE_FIELDS}, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def clear_cache() -> bool:
    try:
        cache_path().unlink()
        return True
    except FileNotFoundError:
        return False


def normalize_addr(addr: str) -> str:
    addr = addr.strip().rstrip("/")
    parts = urlsplit(addr)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(f"invalid gateway address {addr!r}: use a URL such as {DEFAULT_ADDR}", exit_code=2)
    return addr


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# -- settings from the global options ------------------------------------------------


@dataclass
class Settings:
    addr_option: str | None = None
    token_option: str | None = None
    insecure: bool = False
    json_output: bool = False
    cacert: str | None = None
    cert: str | None = None
    key: str | None = None
    cache: dict[str, Any] = field(default_factory=load_cache)

    @property
    def addr(self) -> str:
        return normalize_addr(self.addr_option or self.cache.get("addr") or DEFAULT_ADDR)

    def login_hint(self, addr: str | None = None) -> str:
        user = self.cache.get("username") if self.cache.get("addr") == (addr or self.addr) else None
        return f"run mcp-cli login {user or '<username>'} --addr {addr or self.addr}"

    def session_token(self) -> tuple[str, str]:
        """The token to send and where it came from ("option" or "cache"); a clear error when there is none."""
        if self.token_option:
            return self.token_option, "option"
        addr = self.addr
        token = self.cache.get("token")
        # A cached session belongs to the gateway it was issued by; never send it anywhere else.
        if not token or self.cache.get("addr") != addr:
            raise CliError(f"not logged in: {self.login_hint(addr)}")
        expires = parse_time(self.cache.get("expires_at"))
        if expires is not None and expires <= datetime.now(UTC):
            raise CliError(f"session expired at {self.cache['expires_at']}: {self.login_hint(addr)}")
        return token, "cache"

    def api(self, *, authenticated: bool = True, addr: str | None = None) -> Api:
        token, source = self.session_token() if authenticated else (None, None)
        return Api(self, addr or self.addr, token, source)


# -- HTTP -----------------------------------------------------------------------


class Api:
    def __init__(self, settings: Settings, addr: str, token: str | None, token_source: str | None) -> None:
        self.settings = settings
        self.addr = addr
        self.token = token
        self.token_source = token_source
        self.http = requests.Session()
        self.http.headers["User-Agent"] = "mcp-cli"
        if settings.insecure:
            self.http.verify = False
            from urllib3.exceptions import InsecureRequestWarning

            warnings.simplefilter("ignore", InsecureRequestWarning)  # the user asked for it explicitly
        elif settings.cacert:
            self.http.verify = settings.cacert
        if settings.cert:
            self.http.cert = (settings.cert, settings.key) if settings.key else settings.cert

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict | None = None,
        timeout: float = TIMEOUT,
        auth: bool = True,
    ) -> requests.Response:
        headers = {"Accept": "application/json"}
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        url = self.addr + path
        try:
            # `verify` per request: set on the session only, REQUESTS_CA_BUNDLE would override --cacert.
            response = self.http.request(
                method, url, json=json_body, params=params, headers=headers, timeout=timeout, verify=self.http.verify
            )
        except requests.exceptions.SSLError as exc:
            raise CliError(_tls_failure(self.addr, exc, self.settings.cert is not None)) from None
        except requests.exceptions.Timeout:
            raise CliError(f"the gateway at {self.addr} did not answer within {timeout:g}s") from None
        except requests.exceptions.ConnectionError as exc:
            raise CliError(f"cannot reach the gateway at {self.addr}: {_why(exc)}") from None
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, ValueError) as exc:
            raise CliError(f"invalid gateway address {self.addr!r}: {exc}", exit_code=2) from None
        except (requests.exceptions.RequestException, OSError) as exc:
            raise CliError(f"request to the gateway at {self.addr} failed: {_why(exc)}") from None
        if response.status_code >= 400:
            raise self._http_error(method, path, response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CliError(
                f"{method} {path} on {self.addr} answered HTTP {response.status_code} without JSON; "
                "is this a Janus gateway?"
            ) from None

    def _http_error(self, method: str, path: str, response: requests.Response) -> CliError:
        code, message = _error_body(response)
        status = f"HTTP {response.status_code}"
        if response.status_code == 401 and self.token_source == "cache":  # noqa: S105 - where it came from
            text = f"session no longer valid ({message or 'unauthorized'}): {self.settings.login_hint(self.addr)}"
        elif response.status_code == 401 and self.token_source == "option":  # noqa: S105 - ditto
            text = f"the gateway rejected the session token given with --token: {message or 'unauthorized'}"
        elif code is None:
            # Not the admin API's error shape: a proxy, an older gateway, or not Janus at all.
            text = f"{method} {path} on {self.addr} answered {status} {response.reason or ''}".rstrip() + (
                "; this gateway has no such admin API route" if response.status_code == 404 else ""
            )
        else:
            text = f"{message} ({status} {code})" if message else f"{status} {code}"
        return CliError(text, status=response.status_code)


def _error_body(response: requests.Response) -> tuple[str | None, str | None]:
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict) or "error" not in body:
        return None, None
    message = body.get("message")
    return str(body["error"]), (str(message) if message else None)


def _tls_failure(addr: str, exc: BaseException, sent_certificate: bool) -> str:
    text = repr(exc)
    if not sent_certificate and any(alert in text for alert in _NO_CERTIFICATE_ALERTS):
        return (
            f"the gateway at {addr} requires a client certificate (mutual TLS): give --cert and --key "
            "(or MCP_CLI_CERT and MCP_CLI_KEY)"
        )
    if any(alert in text for alert in _CERTIFICATE_REFUSED_ALERTS) or (
        sent_certificate and any(alert in text for alert in _NO_CERTIFICATE_ALERTS)
    ):
        return (
            f"the gateway at {addr} refused the client certificate given with --cert: is it issued by the "
            "CA the gateway trusts (CLIENT_CA_PATH), and is --key its key?"
        )
    return f"TLS with the gateway at {addr} failed ({_why(exc)}); trust its CA with --cacert or skip verification with --insecure"


# How a TLS server says "no certificate" (1.3: certificate_required; 1.2: handshake_failure), or cuts the
# connection after the handshake, which a TLS 1.3 client sees only on its first read.
_NO_CERTIFICATE_ALERTS = ("CERTIFICATE_REQUIRED", "HANDSHAKE_FAILURE", "EOF occurred in violation", "UNEXPECTED_EOF")
_CERTIFICATE_REFUSED_ALERTS = ("UNKNOWN_CA", "BAD_CERTIFICATE", "CERTIFICATE_UNKNOWN", "DECRYPT_ERROR")


def _why(exc: BaseException) -> str:
    text = repr(exc)
    for needle, label in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "unknown host"),
        ("nodename nor servname", "unknown host"),
        ("No route to host", "no route to host"),
        ("timed out", "timed out"),
        ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed"),
        ("UNKNOWN_CA", "the gateway does not trust the certificate's CA"),
        ("WRONG_VERSION_NUMBER", "the server does not speak TLS on this port"),
        ("RemoteDisconnected", "the connection was closed without an answer"),
        ("Connection reset", "connection reset"),
    ):
        if needle in text:
            return label
    return type(exc).__name__
