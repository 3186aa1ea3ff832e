"""A real OAuth 2.1 authorization server for the resource-server tests, built from Authlib's server parts.

Served by werkzeug on 127.0.0.1 (a free port) from a thread of the test process:

- RFC 8414 metadata at /.well-known/oauth-authorization-server, the JWKS at /jwks (RSA keys made at run
  time; `rotate()` makes a new signing key, as an operator rotating keys would);
- authorization code + PKCE (S256, required) with the RFC 8707 `resource` parameter: the access token is a
  JWT (RFC 9068) whose `aud` is the resource the client asked for;
- RFC 7591 dynamic client registration (the MCP Python SDK's OAuth client registers itself).

The authorization endpoint consents at once for `user` (the person "signed in" at this server, which a
test sets: subject, groups, extra claims), so a headless client can follow its redirect with requests.
`mint()` signs any claims with any key and algorithm, for the refusal tests.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, g, jsonify
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import WSGIRequestHandler, make_server


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested resource is invalid or not the one granted."""

    error = "invalid_target"


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    metadata: dict[str, Any]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.metadata["redirect_uris"][0]

    def get_allowed_scope(self, scope: str) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.metadata.get("redirect_uris", [])

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint != "token" or method == self.metadata.get("token_endpoint_auth_method", "client_secret_basic")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.metadata.get("grant_types", ["authorization_code"])


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: dict[str, Any]
    code_challenge: str | None
    code_challenge_method: str | None
    resource: str | None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class OAuthServer:
    """The authorization server; `start()` it, read `issuer`, `stop()` it."""

    user: dict[str, Any] = field(default_factory=lambda: {"sub": "alice", "groups": []})
    token_lifetime: int = 3600
    clients: dict[str, Client] = field(default_factory=dict)
    codes: dict[str, Code] = field(default_factory=dict)
    keys: list[RSAKey] = field(default_factory=list)
    jwks_requests: int = 0
    foreign_metadata_requests: int = 0
    tokens_issued: list[str] = field(default_factory=list)
    # What the signed-in person may grant (None: whatever the client asks for); a real IdP's policy.
    grantable_scopes: set[str] | None = None

    def __post_init__(self) -> None:
        self.keys.append(self._new_key())
        self.app = self._build_app()
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=_Quiet)
        self.port = self._server.server_port
        self.issuer = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> OAuthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- keys and tokens --------------------------------------------------------------------------------

    @staticmethod
    def _new_key() -> RSAKey:
        return RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8), "use": "sig", "alg": "RS256"})

    @property
    def signing_key(self) -> RSAKey:
        return self.keys[-1]

    def rotate(self, *, keep_old: bool = True) -> RSAKey:
        """A new signing key, published in the JWKS (with the old ones unless keep_old is False)."""
        key = self._new_key()
        self.keys = [*self.keys, key] if keep_old else [key]
        return key

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.as_dict(private=False) for key in self.keys]}

    def claims_for(self, resource: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": self.user["sub"],
            "aud": resource,
            "iat": now,
            "nbf": now,
            "exp": now + self.token_lifetime,
            "jti": secrets.token_hex(8),
            "client_id": "tests",
        }
        claims.update({k: v for k, v in self.user.items() if k != "sub"})
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(
        self,
        resource: str,
        *,
        key: Any = None,
        alg: str = "RS256",
        header: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A JWT access token for `resource` signed by `key` (default: the current signing key)."""
        key = key if key is not None else self.signing_key
        head = {"alg": alg, "typ": "at+jwt"}
        if getattr(key, "kid", None):
            head["kid"] = key.kid
        head.update(header or {})
        return jwt.encode(head, self.claims_for(resource, **claims), key, algorithms=[alg])

    # -- the Flask app -------------------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "registration_endpoint": self.issuer + "/register",
            "jwks_uri": self.issuer + "/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "none"],
            "scopes_supported": ["weather_*", "billing_*", "admin_*"],
        }

    def _build_app(self) -> Flask:
        app = Flask("oauth-test-server")
        outer = self

        def query_client(client_id: str) -> Client | None:
            return outer.clients.get(client_id)

        server = AuthorizationServer(app, query_client=query_client, save_token=lambda token, req: None)

        class CodeGrant(AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]  # noqa: RUF012

            def save_authorization_code(self, code: str, req: Any) -> None:
                data = req.payload.data
                outer.codes[code] = Code(
                    code=code,
                    client_id=req.client.client_id,
                    redirect_uri=data.get("redirect_uri", ""),
                    scope=data.get("scope", ""),
                    user=dict(req.user),
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                    resource=data.get("resource"),
                )

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                found = outer.codes.get(code)
                return found if found is not None and found.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: Code) -> None:
                outer.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: Code) -> dict[str, Any]:
                return authorization_code.user

            def validate_token_request(self) -> None:
                super().validate_token_request()
                # RFC 8707 §2.2: the token request's resource must be one the grant was for.
                code = self.request.authorization_code
                asked = self.request.form.get("resource")
                if code.resource is None or (asked is not None and asked != code.resource):
                    raise InvalidTargetError("the resource must be the one named in the authorization request")
                g.resource = code.resource

        server.register_grant(CodeGrant, [CodeChallenge(required=True)])

        def generate(grant_type, client, user=None, scope=None, expires_in=None, include_refresh_token=True):
            if scope and outer.grantable_scopes is not None:
                scope = " ".join(s for s in scope.split() if s in outer.grantable_scopes)
            access = outer.mint(g.resource, scope=scope or None, client_id=client.client_id, **dict(user or {}))
            outer.tokens_issued.append(access)
            return {
                "token_type": "Bearer",
                "access_token": access,
                "expires_in": outer.token_lifetime,
                **({"scope": scope} if scope else {}),
            }

        server.register_token_generator("default", generate)

        class Registration(ClientRegistrationEndpoint):
            def authenticate_token(self, req: Any) -> bool:
                return True  # open registration, as MCP clients expect of a development server

            def get_server_metadata(self) -> dict[str, Any]:
                return outer.metadata()

            def save_client(self, client_info: dict[str, Any], client_metadata: dict[str, Any], req: Any) -> Client:
                client = Client(client_info["client_id"], client_info["client_secret"], dict(client_metadata))
                outer.clients[client.client_id] = client
                return client

        server.register_endpoint(Registration)

        @app.get("/.well-known/oauth-authorization-server")
        def metadata():
            return jsonify(outer.metadata())

        @app.get("/.well-known/oauth-authorization-server/<path:tenant>")
        def tenant_metadata(tenant: str):
            outer.foreign_metadata_requests += 1
            return jsonify(outer.metadata())  # names the root issuer: not the tenant's document (RFC 8414 §3.3)

        @app.get("/jwks")
        def jwks():
            outer.jwks_requests += 1
            return jsonify(outer.jwks())

        @app.get("/authorize")
        def authorize():
            user = dict(outer.user)
            grant = server.get_consent_grant(end_user=user)  # validates the request: client, redirect, PKCE
            return server.create_authorization_response(grant_user=user, grant=grant)

        @app.post("/token")
        def token():
            return server.create_token_response()

        @app.post("/register")
        def register():
            return server.create_endpoint_response(Registration.ENDPOINT_NAME)

        @app.errorhandler(Exception)
        def failed(exc):  # a server bug shows in the test's output, not as an opaque 500
            import traceback

            traceback.print_exc()
            return jsonify({"error": "server_error", "error_description": repr(exc)}), 500

        return app
