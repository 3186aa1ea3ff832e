"""A local Azure Key Vault (secrets only) over real HTTPS on 127.0.0.1, for the `azure` provider's tests.

It speaks the REST calls azure-keyvault-secrets makes for get/set/list/delete/purge, with the service's
JSON shapes and error bodies, and the challenge-based auth handshake the SDK's ChallengeAuthPolicy runs:

1. the SDK's first request carries no Authorization header (and no body: the policy stashes it);
2. the vault answers 401 with
   `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>", resource="https://vault.azure.net"`
   (or, with challenge="scope", `..., scope="https://vault.azure.net/.default"`), body
   `{"error": {"code": "Unauthorized", "message": "Request is missing a Bearer or PoP token."}}`;
3. the SDK asks its credential for a token for `https://vault.azure.net/.default` in <tenant> and sends the
   original request again with `Authorization: Bearer <token>`; the fake accepts exactly `token`, and answers
   any other bearer with the same 401 challenge (the SDK then gives up with ClientAuthenticationError).

Like the service, names are compared without case, every call needs `api-version`, deleting with soft-delete
on moves the secret to /deletedsecrets (visible after `deletion_lag` polls), a soft-deleted name cannot be set
again (409 Conflict) until purged, and right after a purge the name is briefly "being deleted" (409
ObjectIsBeingDeleted, for `purge_lag` attempts). Lists are paged `page_size` items at a time with a nextLink.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import ipaddress
import json
import re
import socket
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

RESOURCE = "https://vault.azure.net"
SCOPE = RESOURCE + "/.default"
_NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
_RETENTION_DAYS = 90


# -- TLS -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    ca_path: Path  # what the client trusts (connection_verify)
    cert_path: Path  # the server's chain: leaf for 127.0.0.1, then the CA
    key_path: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """A throwaway CA and a server certificate for IP 127.0.0.1 signed by it, as PEM files in `directory`."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Janus test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca_path.write_bytes(ca.public_bytes(pem))
    files.cert_path.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    files.key_path.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return files


# -- state ---------------------------------------------------------------------------


@dataclass
class Version:
    version: str
    value: str
    tags: dict[str, str] | None
    content_type: str | None
    created: int


@dataclass
class Secret:
    name: str  # as first written; lookups ignore case
    versions: list[Version] = field(default_factory=list)
    deleted_at: int | None = None
    polls_left: int = 0  # GET /deletedsecrets answers 404 this many more times


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str | None
    body_length: int
    status: int


class FakeKeyVault:
    def __init__(
        self,
        tls: TlsFiles,
        *,
        token: str,
        tenant: str = "72f988bf-0000-4000-8000-00000000beef",
        challenge: str = "resource",
        page_size: int = 25,
        soft_delete: bool = True,
        purge_allowed: bool = True,
        deletion_lag: int = 0,
        purge_lag: int = 0,
    ) -> None:
        assert challenge in ("resource", "scope")
        self.token, self.tenant, self.challenge = token, tenant, challenge
        self.page_size, self.soft_delete, self.purge_allowed = page_size, soft_delete, purge_allowed
        self.deletion_lag, self.purge_lag = deletion_lag, purge_lag
        self.secrets: dict[str, Secret] = {}
        self.deleted: dict[str, Secret] = {}
        self.purging: dict[str, int] = {}  # name -> sets still refused with ObjectIsBeingDeleted
        self.seen: list[Seen] = []
        self.stall = threading.Event()  # set(): requests hang until release() (timeout tests)
        self._released = threading.Event()
        self.lock = threading.Lock()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.cert_path, tls.key_path)
        self.connections: set[socket.socket] = set()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._server.vault = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def challenge_header(self) -> str:
        authority = f'Bearer authorization="https://login.microsoftonline.com/{self.tenant}"'
        if self.challenge == "scope":
            return authority + f', scope="{SCOPE}"'
        return authority + f', resource="{RESOURCE}"'

    def start(self) -> FakeKeyVault:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut the kept-alive connections too, as a vault going away would."""
        self.release()
        self._server.shutdown()
        self._server.server_close()
        with self.lock:
            connections, self.connections = list(self.connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                connection.close()
        self._thread.join(5)

    def release(self) -> None:
        self._released.set()

    def __enter__(self) -> FakeKeyVault:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- what tests look at --------------------------------------------------------

    def value_of(self, name: str) -> str:
        return self.secrets[name.lower()].versions[-1].value

    def tags_of(self, name: str) -> dict[str, str] | None:
        return self.secrets[name.lower()].versions[-1].tags

    def put_raw(self, name: str, value: str, tags: dict[str, str] | None = None) -> None:
        """A secret created outside Janus (portal, az CLI)."""
        with self.lock:
            self._store(name, value, tags, None)

    # -- the service -----------------------------------------------------------------

    def _store(self, name: str, value: str, tags: dict[str, str] | None, content_type: str | None) -> Secret:
        secret = self.secrets.setdefault(name.lower(), Secret(name))
        secret.versions.append(Version(uuid.uuid4().hex, value, tags, content_type, _now()))
        return secret

    def handle(self, method: str, target: str, headers: Any, body: bytes) -> tuple[int, dict[str, str], Any]:
        parts = urlsplit(target)
        query = parse_qs(parts.query)
        path = parts.path.rstrip("/") or "/"
        auth = headers.get("Authorization")
        if auth != f"Bearer {self.token}":
            message = "Request is missing a Bearer or PoP token." if not auth else "AKV10032: Invalid issuer."
            return 401, {"WWW-Authenticate": self.challenge_header}, _error("Unauthorized", message)
        if not query.get("api-version"):
            return 400, {}, _error("BadParameter", "The request URI contains an invalid api-version parameter.")
        segments = path.strip("/").split("/")
        with self.lock:
            if segments == ["secrets"] and method == "GET":
                return self._list(query)
            if len(segments) in (2, 3) and segments[0] == "secrets":
                if not _NAME.match(segments[1]):
                    return 400, {}, _error("BadParameter", f"The request URI contains an invalid name: {segments[1]}")
                if method == "PUT" and len(segments) == 2:
                    return self._set(segments[1], json.loads(body or b"{}"))
                if method == "GET":
                    return self._get(segments[1], segments[2] if len(segments) == 3 else "")
                if method == "DELETE" and len(segments) == 2:
                    return self._delete(segments[1])
            if len(segments) == 2 and segments[0] == "deletedsecrets":
                if method == "GET":
                    return self._get_deleted(segments[1])
                if method == "DELETE":
                    return self._purge(segments[1])
        return 404, {}, _error("NotFound", f"No route for {method} {path}")

    def _set(self, name: str, payload: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        key = name.lower()
        if key in self.deleted:
            return (
                409,
                {},
                _error(
                    "Conflict",
                    f"Secret {name} is currently in a deleted but recoverable state, "
                    "and its name cannot be reused; in this state, the secret can only be "
                    "recovered or purged.",
                ),
            )
        if self.purging.get(key):
            self.purging[key] -= 1
            return 409, {}, _error("ObjectIsBeingDeleted", f"Secret is currently being deleted. Secret: {name}")
        self.purging.pop(key, None)
        if not isinstance(payload.get("value"), str):
            return 400, {}, _error("BadParameter", "Property value is required.")
        secret = self._store(name, payload["value"], payload.get("tags"), payload.get("contentType"))
        return 200, {}, self._bundle(secret, secret.versions[-1], with_value=True)

    def _get(self, name: str, version: str) -> tuple[int, dict[str, str], Any]:
        secret = self.secrets.get(name.lower())
        chosen = None
        if secret is not None:
            chosen = (
                secret.versions[-1] if not version else next((v for v in secret.versions if v.version == version), None)
            )
        if chosen is None:
            return 404, {}, _not_found(f"{name}/{version}" if version else name)
        return 200, {}, self._bundle(secret, chosen, with_value=True)

    def _list(self, query: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        size = min(int(query.get("maxresults", [self.page_size])[0]), self.page_size)
        token = (query.get("$skiptoken") or ["0"])[0]
        start = int(base64.urlsafe_b64decode(token.encode() + b"==").decode() or 0) if token != "0" else 0
        ordered = sorted(self.secrets.values(), key=lambda s: s.name.lower())
        page = ordered[start : start + size]
        items = [
            {
                "id": f"{self.url}/secrets/{s.name}",
                "attributes": _attributes(s.versions[-1]),
                **({"tags": s.versions[-1].tags} if s.versions[-1].tags else {}),
                **({"contentType": s.versions[-1].content_type} if s.versions[-1].content_type else {}),
            }
            for s in page
        ]
        next_link = None
        if start + size < len(ordered):
            skip = base64.urlsafe_b64encode(str(start + size).encode()).decode().rstrip("=")
            version = query["api-version"][0]
            # Like the service: an absolute URL with an explicit port, the api-version and an opaque skiptoken.
            next_link = f"{self.url}/secrets?api-version={version}&$skiptoken={skip}&maxresults={size}"
        return 200, {}, {"value": items, "nextLink": next_link}

    def _delete(self, name: str) -> tuple[int, dict[str, str], Any]:
        secret = self.secrets.pop(name.lower(), None)
        if secret is None:
            return 404, {}, _not_found(name)
        bundle = self._bundle(secret, secret.versions[-1], with_value=False)
        if not self.soft_delete:
            return 200, {}, bundle
        secret.deleted_at = _now()
        secret.polls_left = self.deletion_lag
        self.deleted[name.lower()] = secret
        return 200, {}, {**bundle, **self._deletion(secret)}

    def _get_deleted(self, name: str) -> tuple[int, dict[str, str], Any]:
        secret = self.deleted.get(name.lower())
        if secret is not None and secret.polls_left > 0:
            secret.polls_left -= 1
            secret = None  # still being deleted: not yet in the deleted collection
        if secret is None:
            return 404, {}, _error("SecretNotFound", f"Deleted Secret not found: {name}")
        bundle = self._bundle(secret, secret.versions[-1], with_value=False)
        return 200, {}, {**bundle, **self._deletion(secret)}

    def _purge(self, name: str) -> tuple[int, dict[str, str], Any]:
        if not self.purge_allowed:
            return (
                403,
                {},
                {
                    "error": {
                        "code": "Forbidden",
                        "message": "The user, group or application 'appid=00000000-0000-0000-0000-000000000000' does not "
                        "have secrets purge permission on key vault 'fake;location=local'.",
                        "innererror": {"code": "AccessDenied"},
                    }
                },
            )
        if self.deleted.pop(name.lower(), None) is None:
            return 404, {}, _error("SecretNotFound", f"Deleted Secret not found: {name}")
        if self.purge_lag:
            self.purging[name.lower()] = self.purge_lag
        return 204, {}, None

    def _bundle(self, secret: Secret, version: Version, *, with_value: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": f"{self.url}/secrets/{secret.name}/{version.version}",
            "attributes": _attributes(version),
        }
        if with_value:
            body["value"] = version.value
        if version.tags:
            body["tags"] = version.tags
        if version.content_type:
            body["contentType"] = version.content_type
        return body

    def _deletion(self, secret: Secret) -> dict[str, Any]:
        assert secret.deleted_at is not None
        return {
            "recoveryId": f"{self.url}/deletedsecrets/{secret.name}",
            "deletedDate": secret.deleted_at,
            "scheduledPurgeDate": secret.deleted_at + _RETENTION_DAYS * 86400,
        }


def _now() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp())


def _attributes(version: Version) -> dict[str, Any]:
    return {
        "enabled": True,
        "created": version.created,
        "updated": version.created,
        "recoveryLevel": "Recoverable+Purgeable",
        "recoverableDays": _RETENTION_DAYS,
    }


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _not_found(name: str) -> dict[str, Any]:
    return _error(
        "SecretNotFound",
        f"A secret with (name/id) {name} was not found in this key vault. If you "
        "recently deleted this secret you may be able to recover it using the correct recovery command. "
        "For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182",
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that give up (timeouts, refused certificates) are part of the tests, not noise to print


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's pooled session expects
    disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms delayed-ACK stall

    def setup(self) -> None:
        super().setup()
        vault: FakeKeyVault = self.server.vault  # type: ignore[attr-defined]
        with vault.lock:
            vault.connections.add(self.connection)

    def finish(self) -> None:
        vault: FakeKeyVault = self.server.vault  # type: ignore[attr-defined]
        with vault.lock:
            vault.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        vault: FakeKeyVault = self.server.vault  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if vault.stall.is_set():
            vault._released.wait(30)
        status, headers, payload = vault.handle(self.command, self.path, self.headers, body)
        parts = urlsplit(self.path)
        with vault.lock:
            vault.seen.append(
                Seen(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    self.headers.get("Authorization"),
                    len(body),
                    status,
                )
            )
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if payload is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-keyvault-service-version", "1.9.0.0-fake")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_DELETE = do_POST = do_PATCH = _serve
