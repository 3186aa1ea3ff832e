"""A small Google Secret Manager v1 REST server on 127.0.0.1 for the `gcp` vault tests.

It implements exactly the calls `SecretManagerServiceClient(transport="rest")`
makes for the vault, with the JSON the real service sends (proto3 JSON:
camelCase fields, base64 `payload.data`, int64 checksums as strings, fields
with default values left out) and Google's error body
`{"error": {"code": 404, "message": "...", "status": "NOT_FOUND"}}`:

  POST   /v1/projects/{p}/secrets?secretId={id}          CreateSecret (replication required, id checked)
  POST   /v1/projects/{p}/secrets/{id}:addVersion        AddSecretVersion (verifies payload.dataCrc32c)
  GET    /v1/projects/{p}/secrets/{id}/versions/{v}:access   AccessSecretVersion (v = latest or a number)
  DELETE /v1/projects/{p}/secrets/{id}                   DeleteSecret
  GET    /v1/projects/{p}/secrets?pageSize=&pageToken=   ListSecrets (page_size entries a page by default)

Any other request answers 501 and is kept in `unhandled`, so a client that
starts calling something new fails loudly instead of looking like NOT_FOUND.
Only `project` exists; any other project answers PERMISSION_DENIED, as Google
does for a project the caller cannot see. Every request is kept in `requests`.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SECRET_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
_ROUTES = [
    ("POST", re.compile(r"/v1/projects/([^/:]+)/secrets/([^/:]+):addVersion"), "add_version"),
    ("GET", re.compile(r"/v1/projects/([^/:]+)/secrets/([^/:]+)/versions/([^/:]+):access"), "access"),
    ("DELETE", re.compile(r"/v1/projects/([^/:]+)/secrets/([^/:]+)"), "delete"),
    ("POST", re.compile(r"/v1/projects/([^/:]+)/secrets"), "create"),
    ("GET", re.compile(r"/v1/projects/([^/:]+)/secrets"), "list"),
]


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), bit by bit: slow and obviously right, independent of the code under test."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


class ApiError(Exception):
    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


@dataclass
class _Secret:
    create_time: str
    replication: dict
    versions: list[bytes] = field(default_factory=list)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeSecretManager:
    def __init__(self, project: str = "janus-test", page_size: int = 3) -> None:
        self.project = project
        self.page_size = page_size
        self.secrets: dict[str, _Secret] = {}
        self.payload_checksums: list[bool] = []  # per addVersion: did the client send dataCrc32c?
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.unhandled: list[str] = []
        self._faults: list[tuple[int, str, str]] = []
        self._tamper = False
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-gcp-secrets", daemon=True
        )

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeSecretManager:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeSecretManager:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- test controls --------------------------------------------------------

    def fail_next(self, code: int, status: str, message: str) -> None:
        """The next request answers this error instead of being served."""
        with self._lock:
            self._faults.append((code, status, message))

    def tamper_next_access(self) -> None:
        """The next access answers a checksum that does not match its data, as a corrupted payload would."""
        with self._lock:
            self._tamper = True

    def calls(self, method: str, suffix: str = "") -> list[tuple[str, str, dict[str, list[str]]]]:
        with self._lock:
            return [r for r in self.requests if r[0] == method and r[1].endswith(suffix)]

    # -- the API ----------------------------------------------------------------

    def handle(self, method: str, target: str, body: bytes) -> tuple[int, dict]:
        parts = urlsplit(target)
        query = parse_qs(parts.query)
        with self._lock:
            self.requests.append((method, parts.path, query))
            if self._faults:
                code, status, message = self._faults.pop(0)
                return code, _error_body(code, status, message)
            for route_method, pattern, action in _ROUTES:
                match = pattern.fullmatch(parts.path)
                if match and route_method == method:
                    try:
                        if match.group(1) != self.project:
                            raise ApiError(
                                403, "PERMISSION_DENIED", f"Permission denied on resource project {match.group(1)}."
                            )
                        payload = json.loads(body) if body else {}
                        return 200, getattr(self, "_" + action)(
                            *match.groups()[1:], query=query, body=payload, ints="enum-encoding=int" in target
                        )
                    except ApiError as exc:
                        return exc.code, _error_body(exc.code, exc.status, exc.message)
            self.unhandled.append(f"{method} {target}")
            return 501, _error_body(501, "UNIMPLEMENTED", f"the fake does not implement {method} {parts.path}")

    def _name(self, secret_id: str) -> str:
        return f"projects/{self.project}/secrets/{secret_id}"

    def _secret_json(self, secret_id: str) -> dict:
        secret = self.secrets[secret_id]
        return {
            "name": self._name(secret_id),
            "replication": secret.replication,
            "createTime": secret.create_time,
            "etag": '"1"',
        }

    def _existing(self, secret_id: str, message: str) -> _Secret:
        secret = self.secrets.get(secret_id)
        if secret is None:
            raise ApiError(404, "NOT_FOUND", message)
        return secret

    def _create(self, *, query: dict, body: dict, ints: bool) -> dict:
        secret_id = (query.get("secretId") or [""])[0]
        if not SECRET_ID.fullmatch(secret_id):
            raise ApiError(
                400,
                "INVALID_ARGUMENT",
                "The provided Secret ID [%s] does not match the expected format [[a-zA-Z_0-9-]+]" % secret_id,
            )
        if not isinstance(body.get("replication"), dict) or not body["replication"]:
            raise ApiError(400, "INVALID_ARGUMENT", "Replication policy must be specified.")
        if secret_id in self.secrets:
            raise ApiError(409, "ALREADY_EXISTS", f"Secret [{self._name(secret_id)}] already exists.")
        self.secrets[secret_id] = _Secret(_now(), body["replication"])
        return self._secret_json(secret_id)

    def _add_version(self, secret_id: str, *, query: dict, body: dict, ints: bool) -> dict:
        secret = self._existing(secret_id, f"Secret [{self._name(secret_id)}] not found.")
        payload = body.get("payload") or {}
        data = base64.b64decode(payload.get("data", ""), validate=True)
        checksum = payload.get("dataCrc32c")
        self.payload_checksums.append(checksum is not None)
        if checksum is not None and int(checksum) != crc32c(data):
            raise ApiError(400, "INVALID_ARGUMENT", "Checksum mismatch: the data_crc32c does not match the data.")
        secret.versions.append(data)
        return {
            "name": f"{self._name(secret_id)}/versions/{len(secret.versions)}",
            "createTime": _now(),
            "state": 1 if ints else "ENABLED",
            "etag": '"1"',
            "clientSpecifiedPayloadChecksum": checksum is not None,
        }

    def _access(self, secret_id: str, version: str, *, query: dict, body: dict, ints: bool) -> dict:
        secret = self._existing(secret_id, f"Secret [{self._name(secret_id)}] not found or has no versions.")
        if version == "latest":
            if not secret.versions:
                raise ApiError(404, "NOT_FOUND", f"Secret [{self._name(secret_id)}] not found or has no versions.")
            number = len(secret.versions)
        elif version.isdigit() and 1 <= int(version) <= len(secret.versions):
            number = int(version)
        else:
            raise ApiError(404, "NOT_FOUND", f"Secret Version [{self._name(secret_id)}/versions/{version}] not found.")
        data = secret.versions[number - 1]
        checksum = crc32c(data)
        if self._tamper:
            self._tamper = False
            checksum ^= 1
        return {
            "name": f"{self._name(secret_id)}/versions/{number}",
            "payload": {"data": base64.b64encode(data).decode("ascii"), "dataCrc32c": str(checksum)},
        }

    def _delete(self, secret_id: str, *, query: dict, body: dict, ints: bool) -> dict:
        self._existing(secret_id, f"Secret [{self._name(secret_id)}] not found.")
        del self.secrets[secret_id]
        return {}

    def _list(self, *, query: dict, body: dict, ints: bool) -> dict:
        size = int((query.get("pageSize") or [self.page_size])[0]) or self.page_size
        token = (query.get("pageToken") or ["0"])[0]
        if not token.isdigit():
            raise ApiError(400, "INVALID_ARGUMENT", "Invalid page token.")
        start = int(token)
        ids = list(self.secrets)
        page = ids[start : start + size]
        answer: dict[str, Any] = {}
        if page:
            answer["secrets"] = [self._secret_json(i) for i in page]
        if start + size < len(ids):
            answer["nextPageToken"] = str(start + size)
        if ids:
            answer["totalSize"] = len(ids)
        return answer


def _error_body(code: int, status: str, message: str) -> dict:
    return {"error": {"code": code, "message": message, "status": status}}


def _handler_for(fake: FakeSecretManager) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like Google's front end; the client pools connections
        disable_nagle_algorithm = True  # headers and body go out as two writes; Nagle would hold the second

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            code, answer = fake.handle(self.command, self.path, body)
            data = json.dumps(answer).encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

    return Handler
